#!/usr/bin/env python3
"""kn_activator.py ADDR PORT LOG - a stand-in for Knative's activator in the e2e tests.

Answers every POST 200 with {"served_by": "activator", "revision": ..., "namespace": ...}
(HTTP/1.1, Content-Length, kept alive) and appends to LOG one JSON line per request: the Host
and the Knative-Serving-Revision and Knative-Serving-Namespace headers it came with (and how
many of each), the path and the body's length. GET answers {"ok": true} and is not logged.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    addr, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.reply({"ok": True})

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen = {
                "host": self.headers.get("Host"),
                "revision": self.headers.get("Knative-Serving-Revision"),
                "namespace": self.headers.get("Knative-Serving-Namespace"),
                "n_revision": len(self.headers.get_all("Knative-Serving-Revision") or []),
                "n_namespace": len(self.headers.get_all("Knative-Serving-Namespace") or []),
                "path": self.path,
                "body_bytes": len(body),
            }
            with open(log, "a") as f:
                f.write(json.dumps(seen) + "\n")
            self.reply({"served_by": "activator", "revision": seen["revision"], "namespace": seen["namespace"]})

    ThreadingHTTPServer((addr, port), Handler).serve_forever()


if __name__ == "__main__":
    main()
