"""Alerts to a webhook: the event as JSON, POSTed with an HMAC-SHA256 signature over the timestamp
and the body, so the receiver knows it comes from the collector and is not a replay.

    X-Rating-Timestamp: <unix seconds>
    X-Rating-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>." + body)>
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import httpx
import orjson

TIMESTAMP_HEADER = "X-Rating-Timestamp"
SIGNATURE_HEADER = "X-Rating-Signature"
TOLERANCE_S = 300  # a receiver refuses a signature older (or newer) than this
TIMEOUT_S = 10.0


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signed: str, now: float | None = None) -> bool:
    """What a receiver checks: the signature, and that the timestamp is recent."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= TOLERANCE_S and hmac.compare_digest(signature(secret, timestamp, body), signed)


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: bytes

    def send(self, event: dict[str, object]) -> None:
        body = orjson.dumps(event)
        timestamp = str(int(time.time()))
        response = httpx.post(self.url, content=body, timeout=TIMEOUT_S, headers={
            "Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self.secret, timestamp, body)})
        if response.status_code >= 300:
            raise RuntimeError(f"webhook answered {response.status_code}")
