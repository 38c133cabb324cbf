"""A receiver of wakeful's webhooks, with Python's standard library only.

It checks each delivery's signature and age, handles each delivery id once, and answers 200 (any
other answer, or none, makes wakeful send the delivery again later). Run it with the secret that
`wakeful webhook secret` prints:

    WAKEFUL_WEBHOOK_SECRET=... python webhook_receiver.py 8080

and start runs with `?callback=http://127.0.0.1:8080/wakeful`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

# How old a signed request may be: a request replayed later than this is refused.
TOLERANCE = 300


def verify(secret: str, timestamp: str, signature: str, body: bytes, now: float | None = None) -> bool:
    """True if `signature` (X-Wakeful-Signature) signs `timestamp` (X-Wakeful-Timestamp) and the
    raw `body` with `secret`, and the timestamp is at most TOLERANCE seconds away from `now`."""
    if not timestamp.isdigit() or abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE:
        return False
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), signature)


def handle(event: dict[str, Any]) -> None:
    """Your code: here, one line per event."""
    if event["type"] == "permission.asked":
        request = event["request"]
        print(
            f"{event['sessionID']} asks for {request['permission']} {request['patterns']}: reply to {request['id']}"
        )
    else:
        error = event["info"].get("error")
        print(f"{event['messageID']}: {event['type']}" + (f" ({error['name']})" if error else ""))


class Receiver(BaseHTTPRequestHandler):
    secret = os.environ.get("WAKEFUL_WEBHOOK_SECRET", "")
    seen: set[str] = set()  # in production: a table with the delivery id as its key

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        timestamp = self.headers.get("X-Wakeful-Timestamp", "")
        if not verify(self.secret, timestamp, self.headers.get("X-Wakeful-Signature", ""), body):
            self.send_response(401)
            self.end_headers()
            return
        delivery = self.headers["X-Wakeful-Delivery"]
        if delivery not in self.seen:  # a repeat of a delivery already handled is only acknowledged
            handle(json.loads(body))
            self.seen.add(delivery)
        self.send_response(200)
        self.end_headers()


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8080), Receiver).serve_forever()
