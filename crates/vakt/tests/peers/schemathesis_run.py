"""schemathesis against vakt serve's OpenAPI document, as one principal:
no 5xx, and no response that breaks the document's schema.

usage: schemathesis_run.py OPENAPI_URL TOKEN [MAX_EXAMPLES]

Rules reload is left out (each call recompiles every rule: slow, and it
says nothing about the schema that the API tests do not).
"""
import os
import subprocess
import sys

url, token = sys.argv[1], sys.argv[2]
examples = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("VAKT_SCHEMATHESIS_EXAMPLES", "5")
st = os.path.join(os.path.dirname(sys.executable), "schemathesis")
cmd = [
    st, "run", url,
    "-H", f"Authorization: Bearer {token}",
    "--checks", "not_a_server_error,response_schema_conformance",
    "--max-examples", examples,
    "--exclude-path-regex", "rules/reload",
    "--workers", "1",
    # The tests run a debug build beside another test on 2 cores: a search
    # over the whole store without a time range (release: milliseconds)
    # can take longer than schemathesis's default 10 s there.
    "--request-timeout", "60",
    "--no-color",
]
r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
print(r.stdout)
sys.exit(r.returncode)
