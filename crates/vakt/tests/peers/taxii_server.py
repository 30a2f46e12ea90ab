"""A TAXII 2.1 server (OASIS medallion, in-memory backend) on 127.0.0.1,
serving a STIX 2.1 bundle for vakt to pull indicators from.

Usage: taxii_server.py --port-file F --bundle B.json --user U --password P
Listens on a free port with one API root, api1, holding one collection:
id 91a7b528-80eb-42ed-a74d-c6fbd5a26116, title "partner indicators",
can_read true (can_write true too, so a test may POST more objects later),
with every object of the bundle. Each object's date_added is the start
time plus its index in milliseconds, so the bundle's order is the
collection's order and added_after is exact. Once the server answers, the
port is written to F (through F.tmp and a rename). Runs until killed.

A client sends HTTP Basic auth (U:P) and the header
  Accept: application/taxii+json;version=2.1
on every request (medallion answers 406 without it, 401 without auth).
  discovery:   http://127.0.0.1:PORT/taxii2/
               (api_roots: ["http://127.0.0.1:PORT/api1/"], absolute)
  api root:    http://127.0.0.1:PORT/api1/
  collections: http://127.0.0.1:PORT/api1/collections/
  collection:  http://127.0.0.1:PORT/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/
  objects:     http://127.0.0.1:PORT/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/objects/
               ?added_after=<ts>&limit=<n>&next=<id>&match[type]=indicator
  manifest:    http://127.0.0.1:PORT/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/manifest/
Answers are Content-Type application/taxii+json;version=2.1. The objects
envelope is {"objects": [...], "more": bool, "next": "<id>" (when more)};
an empty result is {} (no "objects", no "more"). Headers
X-TAXII-Date-Added-First / -Last carry the page's date_added range
("%Y-%m-%dT%H:%M:%S.%fZ", microseconds); added_after takes that format or
one without fractional seconds, and is exclusive. Timestamps in the bundle's
created/modified must have that format too (e.g. 2024-03-01T10:00:00.000Z);
objects with neither (SCOs) get the date_added as their version.
"""
import argparse
import base64
import datetime
import io
import json
import logging
import os
import threading
import time
import urllib.request

from werkzeug.serving import make_server

from medallion import application_instance, register_blueprints, set_config

COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
TAXII = "application/taxii+json;version=2.1"

ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--bundle", required=True)
ap.add_argument("--user", required=True)
ap.add_argument("--password", required=True)
args = ap.parse_args()
logging.getLogger("werkzeug").setLevel(logging.ERROR)

with open(args.bundle, encoding="utf-8") as f:
    objects = json.load(f).get("objects", [])

server = make_server("127.0.0.1", 0, application_instance, threaded=True)
port = server.port
base = "http://127.0.0.1:%d" % port

start = datetime.datetime.now(datetime.timezone.utc)
manifest = []
for i, obj in enumerate(objects):
    date_added = (start + datetime.timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if "modified" not in obj and "created" not in obj:
        obj["_date_added"] = date_added
    spec = "2.1" if "modified" not in obj and "created" not in obj else obj.get("spec_version", "2.0")
    manifest.append({
        "id": obj["id"],
        "date_added": date_added,
        "version": obj.get("modified", obj.get("created", date_added)),
        "media_type": "application/stix+json;version=" + spec,
    })

data = {
    "/discovery": {
        "title": "vakt test TAXII server",
        "description": "medallion serving a partner's STIX 2.1 bundle",
        "default": base + "/api1/",
        "api_roots": [base + "/api1/"],
    },
    "api1": {
        "information": {
            "title": "partner api root",
            "description": "indicators shared by a partner",
            "versions": [TAXII],
            "max_content_length": 10485760,
        },
        "status": [],
        "collections": [{
            "id": COLLECTION,
            "title": "partner indicators",
            "description": "the bundle given on the command line",
            "can_read": True,
            "can_write": True,
            "media_types": ["application/stix+json;version=2.1"],
            "objects": objects,
            "manifest": manifest,
        }],
    },
}

config = {
    "users": {args.user: args.password},
    "taxii": {"max_page_size": 100},
    "backend": {
        "module": "medallion.backends.memory_backend",
        "module_class": "MemoryBackend",
        "filename": io.StringIO(json.dumps(data)),
    },
}
for prop in ("users", "taxii", "backend"):
    set_config(application_instance, prop, config)
register_blueprints(application_instance)

threading.Thread(target=server.serve_forever, daemon=True).start()

auth = base64.b64encode(("%s:%s" % (args.user, args.password)).encode()).decode()
req = urllib.request.Request(base + "/taxii2/",
                             headers={"Accept": TAXII, "Authorization": "Basic " + auth})
for _ in range(200):
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            if r.status == 200:
                break
    except OSError:
        pass
    time.sleep(0.05)
else:
    raise SystemExit("medallion did not answer on " + base)

with open(args.port_file + ".tmp", "w") as f:
    f.write(str(port))
os.replace(args.port_file + ".tmp", args.port_file)

while True:
    time.sleep(3600)
