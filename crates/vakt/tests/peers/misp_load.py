"""MISP's own Python library (pymisp) loading a MISP event vakt exported.

Usage: misp_load.py FILE
       misp_load.py --sightings FILE
FILE holds one event in MISP's JSON form, {"Event": {...}}. Loads it with
MISPEvent().load_file and prints what pymisp understood:
{"info", "date" (YYYY-MM-DD), "threat_level_id", "analysis", "distribution"
 (integers, or null when absent), "attributes": [{"type", "category",
 "value", "to_ids", "comment"}], "tags": [tag name, ...]}.
pymisp requires the event's info and each attribute's type (one of MISP's
types) and value; where a category does not allow the type it silently puts
the type's default category instead, so this script fails on that too. Any
failure exits 1 with the error on stderr.

With --sightings, FILE holds a list of MISP sightings (the /sightings/add
form); each is loaded with MISPSighting.from_dict and printed back as
{"count", "sightings": [{"value", "type", "source", "timestamp"}]}.
"""
import json
import sys

from pymisp import MISPEvent

if sys.argv[1] == "--sightings":
    from pymisp import MISPSighting
    try:
        with open(sys.argv[2], encoding="utf-8") as f:
            raw = json.load(f)
        out = []
        for d in raw:
            s = MISPSighting()
            s.from_dict(**d)
            out.append({"value": s.value, "type": s.type, "source": s.source,
                        "timestamp": str(getattr(s, "timestamp", ""))})
        print(json.dumps({"count": len(out), "sightings": out}))
    except Exception as e:
        print("%s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
    sys.exit(0)

fn = sys.argv[1]
try:
    event = MISPEvent()
    event.load_file(fn)
    mapping = event.describe_types["category_type_mappings"]
    with open(fn, encoding="utf-8") as f:
        raw = json.load(f)
    raw = raw.get("Event", raw)
    for a in raw.get("Attribute", []):
        if a.get("category") and a.get("type") not in mapping.get(a["category"], []):
            raise ValueError("attribute %r: type %r is not allowed in category %r (allowed: %s)"
                             % (a.get("value"), a.get("type"), a["category"],
                                ", ".join(mapping.get(a["category"], []))))

    def opt(name):
        return getattr(event, name, None)

    print(json.dumps({
        "info": event.info,
        "date": event.date.isoformat() if opt("date") else None,
        "threat_level_id": opt("threat_level_id"),
        "analysis": opt("analysis"),
        "distribution": opt("distribution"),
        "attributes": [{"type": a.type, "category": a.category, "value": a.value,
                        "to_ids": a.to_ids, "comment": getattr(a, "comment", "")}
                       for a in event.attributes],
        "tags": [t.name for t in event.tags],
    }))
except Exception as e:
    print("%s: %s" % (type(e).__name__, e), file=sys.stderr)
    sys.exit(1)
