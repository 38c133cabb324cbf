"""The webhook secret and the signature every delivery carries.

The signature is HMAC-SHA256, keyed with the secret, over the attempt's Unix timestamp (seconds, as
sent in `X-Wakeful-Timestamp`), a `.`, and the body's bytes; it is sent as `sha256=<hex>` in
`X-Wakeful-Signature`. The timestamp is signed so that a receiver can refuse an old request
replayed to it; it is taken anew for every attempt, the body never changes.

The secret is `--webhook-secret` (`WAKEFUL_WEBHOOK_SECRET`) when given; otherwise it is made once,
with `secrets`, and kept in the data directory (`webhook-secret`, mode 0600), where the server and
`wakeful webhook secret` read it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from wakeful.config import ServerConfig
from wakeful.errors import StartupError

log = logging.getLogger("wakeful.webhooks")

SIGNATURE = "X-Wakeful-Signature"
TIMESTAMP = "X-Wakeful-Timestamp"
DELIVERY = "X-Wakeful-Delivery"
EVENT = "X-Wakeful-Event"
SECRET_FILE = "webhook-secret"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def load_secret(config: ServerConfig) -> str:
    """The configured secret, else the data directory's, made now if there is none. Blocking file
    work: call it in a thread from the event loop."""
    if config.webhook_secret:
        return config.webhook_secret
    path = config.data_dir / SECRET_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Written under a name of its own and linked into place: a server and the CLI making one at
    # the same moment both end up with whichever was linked first, and nobody reads half a file.
    temporary = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)
            log.info("webhooks: made a signing secret in %s", path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink()
    return _read(path)


def _read(path: Path) -> str:
    secret = path.read_text().strip()
    if path.stat().st_mode & 0o077:
        log.warning("webhooks: %s can be read by other users than its owner: chmod 600 it", path)
    if not secret:
        raise StartupError(f"{path} is empty: delete it to have a new webhook secret made")
    return secret
