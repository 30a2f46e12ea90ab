"""An SMTP sink (aiosmtpd) on 127.0.0.1 for vakt's mail alerts.

Usage: smtp_sink.py PORTFILE OUTFILE
Listens on a free port, without authentication or TLS, and when ready
writes the port number to PORTFILE (through PORTFILE.tmp and a rename, so a
reader never sees a partial file). Each message received is appended to
OUTFILE as one JSON line (flushed at once):
{"mail_from", "rcpt_tos", "subject", "body", "headers": {name: value}},
where body is the text/plain part decoded with its line ends turned to LF,
and header values are decoded (the first of a repeated name). Runs until
killed.
"""
import asyncio
import email
import email.policy
import json
import os
import sys

from aiosmtpd.smtp import SMTP

portfile, outfile = sys.argv[1], sys.argv[2]
out = open(outfile, "a", encoding="utf-8")


class Sink:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        headers = {}
        for name, value in msg.items():
            headers.setdefault(name, str(value))
        part = msg.get_body(preferencelist=("plain",))
        body = part.get_content().replace("\r\n", "\n") if part is not None else None
        out.write(json.dumps({
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]) if msg["subject"] is not None else None,
            "body": body,
            "headers": headers,
        }) + "\n")
        out.flush()
        return "250 Message accepted for delivery"


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Sink(), enable_SMTPUTF8=True, hostname="sink.test"),
        "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with open(portfile + ".tmp", "w") as f:
        f.write(str(port))
    os.replace(portfile + ".tmp", portfile)
    await server.serve_forever()


asyncio.run(main())
