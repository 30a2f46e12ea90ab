"""A plain client of vakt's API (requests), after openapi-spec-validator
accepts the served document: the flows an analyst, an admin and a privacy
officer go through. Prints a JSON summary as its last line; exits non-zero
on the first thing that is not as documented.

usage: api_flows.py BASE_URL ADMIN_TOKEN CERT_TOKEN TRUST_TOKEN_OF_ANOTHER_TENANT
"""
import json
import sys
import time

import requests
from openapi_spec_validator import validate

base, admin, cert, other_trust = sys.argv[1:5]


def s(token):
    x = requests.Session()
    x.headers["Authorization"] = f"Bearer {token}"
    return x


def ok(r, code=200):
    assert r.status_code == code, f"{r.request.method} {r.url}: {r.status_code} {r.text[:500]}"
    return r


doc = ok(requests.get(f"{base}/api/v1/openapi.json")).json()
validate(doc)
assert doc["openapi"].startswith("3.1")

A, C, T = s(admin), s(cert), s(other_trust)
out = {"operations": sum(len(v) for v in doc["paths"].values())}

# An admin adds a privacy officer and a trust analyst's token.
ok(A.post(f"{base}/api/v1/users", json={
    "name": "kari", "password": "correct horse battery staple",
    "role": "privacy-officer", "tenant": "ous"}), 201)
made = ok(A.post(f"{base}/api/v1/tokens", json={
    "role": "trust-analyst", "tenant": "ous", "label": "ous SOC", "expires_days": 30}), 201).json()
assert made["token"].startswith("vakt_") and made["id"].startswith("tok-")
ous = s(made["token"])
assert any(t["id"] == made["id"] for t in ok(A.get(f"{base}/api/v1/tokens")).json())

# The CERT analyst: status, the most severe incident, its graph and timeline.
st = ok(C.get(f"{base}/api/v1/status")).json()
assert st["ready"] is True
incidents = ok(C.get(f"{base}/api/v1/incidents", params={"tenant": "ous"})).json()
top = incidents[0]
assert top["severity"] == "critical", top
inc = ok(C.get(f"{base}/api/v1/incidents/{top['id']}")).json()
assert inc["nodes"] and inc["edges"] and inc["stages"] and inc["timeline"] and inc["patient_zero"]

# Scope it, then the notification list as CSV and the report as HTML.
scope = ok(C.post(f"{base}/api/v1/incidents/{top['id']}/scope", json={})).json()
assert scope["confirmed"] > 0 and scope["by_county"] and scope["clocks"], scope["confirmed"]
csv = ok(C.get(f"{base}/api/v1/incidents/{top['id']}/notification", params={"format": "csv"}))
assert csv.headers["content-type"].startswith("text/csv")
rows = csv.text.strip().splitlines()
assert rows[0].startswith("trust,patient,") and len(rows) == scope["confirmed"] + 1
html = ok(C.get(f"{base}/api/v1/incidents/{top['id']}/report", params={"format": "html"}))
assert html.headers["content-type"].startswith("text/html") and "<html" in html.text

# Alerts page by page (no alert twice), one alert and its evidence events.
seen, cursor, pages = set(), None, 0
while True:
    params = {"tenant": "ous", "limit": 7}
    if cursor:
        params["cursor"] = cursor
    page = ok(C.get(f"{base}/api/v1/alerts", params=params)).json()
    pages += 1
    for a in page["items"]:
        assert a["key"] not in seen
        seen.add(a["key"])
    cursor = page.get("next")
    if not cursor:
        break
out["alerts"], out["pages"] = len(seen), pages
sig = ok(C.get(f"{base}/api/v1/alerts", params={"tenant": "ous", "detector": "sigma", "limit": 1})).json()["items"][0]
alert = ok(C.get(f"{base}/api/v1/alerts/{sig['key']}")).json()
assert alert["evidence_events"], alert["key"]
ev = ok(C.get(f"{base}/api/v1/events/{alert['evidence_ids'][0]}")).json()
assert ev["tenant"] == "ous" and ev["id"] == alert["evidence_ids"][0]
# Triage, seen by the filter.
ok(C.put(f"{base}/api/v1/alerts/{sig['key']}/status", json={"status": "true-positive", "note": "confirmed"}))
tp = ok(C.get(f"{base}/api/v1/alerts", params={"tenant": "ous", "status": "true-positive"})).json()["items"]
assert [a["key"] for a in tp] == [sig["key"]]

# Events: a source and a field filter, paged.
host = ev["common"].get("device.hostname")
evs = ok(C.get(f"{base}/api/v1/events", params={
    "tenant": "ous", "source": ev["source"], "filter": f"device.hostname={host}", "limit": 5})).json()
assert evs["items"] and all(e["source"] == ev["source"] for e in evs["items"])
more = ok(C.get(f"{base}/api/v1/events", params={
    "tenant": "ous", "source": ev["source"], "filter": f"device.hostname={host}", "limit": 5,
    "cursor": evs["next"]})).json() if evs.get("next") else {"items": []}
assert not {e["id"] for e in evs["items"]} & {e["id"] for e in more["items"]}

# Another trust's analyst sees none of it.
assert T.get(f"{base}/api/v1/incidents/{top['id']}").status_code == 404
assert T.get(f"{base}/api/v1/alerts", params={"tenant": "ous"}).status_code == 403
assert all(a["tenant"] != "ous" for a in ok(T.get(f"{base}/api/v1/alerts")).json()["items"])
# ... and the new ous token sees it.
assert ok(ous.get(f"{base}/api/v1/incidents/{top['id']}")).json()["id"] == top["id"]

# Intelligence: a STIX bundle of an indicator in the history; its
# retro-hunt runs in the background and its result is a resource.
domain = None
for a in ok(C.get(f"{base}/api/v1/alerts", params={"tenant": "ous", "detector": "intel"})).json()["items"]:
    if a["rule"]["kind"] == "domain":
        domain = a["rule"]["value"]
        break
assert domain, "no indicator alert to build on"
bundle = {"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [{
    "type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    "created": "2018-01-02T00:00:00.000Z", "modified": "2018-01-02T00:00:00.000Z",
    "name": "C2 seen by a partner CERT", "indicator_types": ["malicious-activity"],
    "pattern": f"[domain-name:value = '{domain}']", "pattern_type": "stix",
    "valid_from": "2017-12-01T00:00:00Z"}]}
hunt = ok(C.post(f"{base}/api/v1/intel", params={"name": "partner"}, json=bundle), 202).json()
assert hunt["indicators"] == 1
deadline = time.time() + 120
while True:
    h = ok(C.get(f"{base}/api/v1/intel/hunts/{hunt['hunt']}")).json()
    if h["state"] in ("done", "failed"):
        break
    assert time.time() < deadline, h
    time.sleep(1)
assert h["state"] == "done" and h["alerts"] >= 1, h
out["hunt_alerts"] = h["alerts"]
stix = ok(C.get(f"{base}/api/v1/intel/sightings", params={"format": "stix"})).json()
assert stix["type"] == "bundle" and any(o["type"] == "sighting" for o in stix["objects"])
misp = ok(C.get(f"{base}/api/v1/intel/sightings", params={"format": "misp"})).json()
assert isinstance(misp, list) and misp
assert any(i["value"] == domain for i in ok(C.get(f"{base}/api/v1/intel")).json())

# Rules: listed, checked, reloaded.
rules = ok(C.get(f"{base}/api/v1/rules", params={"limit": 10000})).json()
check = ok(C.get(f"{base}/api/v1/rules/check")).json()
assert len(rules) == check["loaded"] > 1000
assert ok(C.post(f"{base}/api/v1/rules/reload")).json()["loaded"] == len(rules)
assert ok(C.get(f"{base}/api/v1/detectors")).json()["detectors"]

# The privacy officer signs in and reveals one patient, stating why.
po = requests.Session()
login = ok(po.post(f"{base}/api/v1/auth/login", json={"user": "kari", "password": "correct horse battery staple"})).json()
assert "vakt_session" in po.cookies  # the cookie alone signs the session in
assert po.get(f"{base}/api/v1/auth/me").json()["role"] == "privacy-officer"
pseudonym = rows[1].split(",")[1]
assert ous.post(f"{base}/api/v1/patients/{pseudonym}/reveal", json={"reason": "case 17"}).status_code == 403
rv = ok(po.post(f"{base}/api/v1/patients/{pseudonym}/reveal",
                json={"reason": "notification to the patient, case 17"})).json()
assert len(rv["identity_number"]) == 11
out["revealed"] = rv["identity_number"]
ok(po.post(f"{base}/api/v1/auth/logout"), 204)
assert po.get(f"{base}/api/v1/auth/me").status_code == 401
assert requests.post(f"{base}/api/v1/auth/login", json={"user": "kari", "password": "wrong"}).status_code == 401

# The admin reads the trail: the reveal with its reason, the sign-ins.
trail = ok(A.get(f"{base}/api/v1/audit", params={"who": "kari"})).json()
acts = [(r["action"], r["outcome"]) for r in trail]
assert ("sign-in", "granted") in acts and ("sign-in", "refused") in acts and ("reveal", "200") in acts, acts
assert any("case 17" in r["detail"] for r in trail if r["action"] == "reveal")
# Revoking the token ends it.
ok(A.delete(f"{base}/api/v1/tokens/{made['id']}"), 204)
assert ous.get(f"{base}/api/v1/status").status_code == 401

print(json.dumps(out))
