"""The OASIS TAXII 2.1 client (taxii2-client) reading a TAXII server whole.

Usage: taxii_read.py URL TOKEN [--basic USER:PASS]
URL is the discovery URL (e.g. http://127.0.0.1:PORT/taxii2/). Every
request carries "Authorization: Bearer TOKEN" (or HTTP Basic auth with
--basic, TOKEN then unused). Reads the discovery, each API root's
information and collections, and for each readable collection every object
(taxii2client.v21.as_pages, 50 per request, following more/next) and its
whole manifest the same way. Prints one JSON document:
{"title": discovery title, "api_roots": [url, ...],
 "collections": [{"id", "title", "can_read", "count", "types",
                  "manifest_count"}],
 "objects": [every object of every readable collection]}
where count is the number of objects read and types their sorted distinct
types. Any failure (HTTP error, wrong Content-Type, missing required
field) exits 1 with the error on stderr.
"""
import argparse
import json
import sys

import requests.auth
from taxii2client.v21 import Server, as_pages


class Bearer(requests.auth.AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, r):
        r.headers["Authorization"] = "Bearer " + self.token
        return r


ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("token")
ap.add_argument("--basic", metavar="USER:PASS")
args = ap.parse_args()

if args.basic:
    user, _, password = args.basic.partition(":")
    auth = requests.auth.HTTPBasicAuth(user, password)
else:
    auth = Bearer(args.token)


def paged(func):
    for envelope in as_pages(func, per_request=50):
        yield from envelope.get("objects", [])


try:
    server = Server(args.url, auth=auth)
    result = {"title": server.title, "api_roots": [], "collections": [], "objects": []}
    for root in server.api_roots:
        root.refresh_information()
        result["api_roots"].append(root.url)
        for coll in root.collections:
            entry = {"id": coll.id, "title": coll.title, "can_read": coll.can_read,
                     "count": 0, "types": [], "manifest_count": 0}
            if coll.can_read:
                objects = list(paged(coll.get_objects))
                entry["count"] = len(objects)
                entry["types"] = sorted({o.get("type") for o in objects})
                entry["manifest_count"] = len(list(paged(coll.get_manifest)))
                result["objects"].extend(objects)
            result["collections"].append(entry)
except Exception as e:
    print("%s: %s" % (type(e).__name__, e), file=sys.stderr)
    sys.exit(1)
print(json.dumps(result))
