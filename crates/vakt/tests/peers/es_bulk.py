"""The official Elasticsearch Python client's bulk helper, pointed at vakt.

Usage: es_bulk.py URL TOKEN N
Sends N Winlogbeat-shaped process-creation documents (whoami, numbered in
winlog.record_id) with helpers.bulk, authenticating with the vakt token as
an API key, and prints {"success": n, "errors": [...]} as JSON.
"""
import json
import sys

from elasticsearch import Elasticsearch, helpers

url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
es = Elasticsearch(url, api_key=token, request_timeout=30)


def docs():
    for i in range(n):
        yield {
            "_index": "winlogbeat-8.17.0",
            "_source": {
                "@timestamp": "2024-03-01T10:%02d:%02dZ" % (i // 60 % 60, i % 60),
                "host": {"name": "ws-py"},
                "winlog": {
                    "channel": "Security",
                    "event_id": 4688,
                    "computer_name": "ws-py.example.org",
                    "record_id": 1000 + i,
                    "event_data": {
                        "NewProcessName": "C:\\Windows\\System32\\whoami.exe",
                        "CommandLine": "whoami /priv %d" % i,
                        "SubjectUserName": "alice",
                    },
                },
            },
        }


success, errors = helpers.bulk(es, docs(), chunk_size=50, raise_on_error=False)
print(json.dumps({"success": success, "errors": errors}))
