"""Signs in to vakt through its OpenID Connect provider as a browser would:
vakt's login redirects to the provider, the provider's login and consent
pages are filled in, the provider redirects back to vakt's callback. Prints
vakt's answer to the callback as JSON: {"status": …, "body": …}.

usage: oidc_signin.py VAKT_BASE_URL USER
"""
import json
import re
import sys
from urllib.parse import urljoin

import requests

base, user = sys.argv[1], sys.argv[2]
s = requests.Session()
callback = base + "/api/v1/auth/oidc/callback"
r = s.get(base + "/api/v1/auth/oidc/login", allow_redirects=False)
assert r.status_code == 303, (r.status_code, r.text)
url = r.headers["Location"]
for _ in range(20):
    if url.startswith(callback):
        r = s.get(url, allow_redirects=False)
        print(json.dumps({"status": r.status_code, "body": r.json(),
                          "cookie": "vakt_session" in r.headers.get("set-cookie", "")}))
        sys.exit(0)
    r = s.get(url, allow_redirects=False)
    if r.status_code in (302, 303):
        url = urljoin(url, r.headers["Location"])
        continue
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    form = re.search(r'<form[^>]*action="([^"]+)"', r.text)
    assert form, r.text[:500]
    fields = dict(re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', r.text))
    if 'name="login"' in r.text:
        fields.update({"login": user, "password": "any password"})
    r = s.post(urljoin(url, form.group(1)), data=fields, allow_redirects=False)
    assert r.status_code in (302, 303), (r.status_code, r.text[:300])
    url = urljoin(url, r.headers["Location"])
raise SystemExit("too many redirects")
