"""The OASIS STIX 2.1 validator (stix2-validator) on files vakt wrote.

Usage: stix_validate.py FILE...
Validates each file (a bundle, or a single object) with
stix2validator.validate_file and ValidationOptions(version="2.1",
strict=False): the JSON schemas, the MUST checks as errors and the SHOULD
checks as warnings. Prints a JSON list
[{"file", "valid", "errors": [message, ...], "warnings": [message, ...]}]
(a file that can't be read or parsed is invalid, its error listed) and exits
1 when any file is invalid.
"""
import json
import sys

from stix2validator import ValidationOptions, validate_file

options = ValidationOptions(version="2.1", strict=False)
results = []
for fn in sys.argv[1:]:
    r = validate_file(fn, options)
    errors, warnings = [], []
    if r.fatal:
        errors.append(r.fatal.error)
    for obj in r.object_results:
        errors.extend(str(e) for e in obj.errors)
        warnings.extend(str(w) for w in obj.warnings or [])
    results.append({"file": fn, "valid": r.is_valid, "errors": errors, "warnings": warnings})
print(json.dumps(results, indent=1))
sys.exit(0 if all(r["valid"] for r in results) else 1)
