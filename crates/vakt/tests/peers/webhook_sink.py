"""A webhook receiver on 127.0.0.1 that checks vakt's signatures.

Usage: webhook_sink.py --out FILE --secret S [--port P] [--port-file F]
                       [--fail-first N]
Listens on port P (a free one when P is 0 or absent) and, when --port-file
is given, writes the port there (through F.tmp and a rename). Every POST,
whatever its path, is checked against its X-Vakt-Signature header,
"t=<unix seconds>,v1=<lowercase hex>" with hex = HMAC-SHA256(key=S,
msg=b"<t>." + raw body), and recorded as one JSON line in FILE (flushed):
{"path", "delivery" (X-Vakt-Delivery), "event" (X-Vakt-Event), "valid",
 "status", "body" (the parsed JSON body, or null)}.
The first N POSTs are answered 503 (and recorded so); after them the answer
is 200 when the signature is valid and 401 when not. Runs until killed; the
address is reusable at once, so a restart on the same port works.
"""
import argparse
import hashlib
import hmac
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--secret", required=True)
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--port-file")
ap.add_argument("--fail-first", type=int, default=0)
args = ap.parse_args()

out = open(args.out, "a", encoding="utf-8")
lock = threading.Lock()
failures_left = args.fail_first


def signature_valid(header, body):
    if not header:
        return False
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    t, v1 = parts.get("t"), parts.get("v1")
    if not t or not v1:
        return False
    mac = hmac.new(args.secret.encode(), f"{t}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(mac.hexdigest().encode(), v1.encode())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global failures_left
        body = self.read_body()
        valid = signature_valid(self.headers.get("X-Vakt-Signature"), body)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        with lock:
            if failures_left > 0:
                failures_left -= 1
                status = 503
            else:
                status = 200 if valid else 401
            out.write(json.dumps({
                "path": self.path,
                "delivery": self.headers.get("X-Vakt-Delivery"),
                "event": self.headers.get("X-Vakt-Event"),
                "valid": valid,
                "status": status,
                "body": parsed,
            }) + "\n")
            out.flush()
        answer = json.dumps({"status": status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def read_body(self):
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline()

    def log_message(self, format, *a):
        pass


class Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


server = Server(("127.0.0.1", args.port), Handler)
if args.port_file:
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
server.serve_forever()
