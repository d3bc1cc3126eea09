"""Signed, expiring tokens (session cookies and API bearer tokens), CSRF tokens and a login rate limiter.

A token is ``base64url(json payload) . base64url(HMAC-SHA256(secret, payload))`` with the user name, its kind
(``session`` or ``api``), an expiry time and a random nonce; the secret lives in ``state_dir/secret.key`` (0600,
made on first start). A session's CSRF token is an HMAC of its nonce, so a form posted without the page's token
is refused. Logging out revokes the nonce.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from pathlib import Path


def load_secret(state_dir: Path) -> bytes:
    """The server's signing key, created (32 random bytes, mode 0600) when missing."""
    path = Path(state_dir) / "secret.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    """Issue and check tokens signed with ``secret``."""

    def __init__(self, secret: bytes):
        self.secret = secret
        self.revoked: set[str] = set()

    def _sign(self, body: bytes) -> str:
        return _b64(hmac.new(self.secret, body, hashlib.sha256).digest())

    def issue(self, user: str, kind: str, seconds: float) -> str:
        """A token for ``user`` of ``kind`` valid for ``seconds``."""
        body = json.dumps({"u": user, "k": kind, "exp": time.time() + seconds, "n": secrets.token_hex(16)},
                          separators=(",", ":")).encode()
        return f"{_b64(body)}.{self._sign(body)}"

    def check(self, token: str | None, kind: str) -> dict | None:
        """The payload of a valid, unexpired, unrevoked token of ``kind``; None otherwise (forged, expired...)."""
        if not token or token.count(".") != 1:
            return None
        body_text, signature = token.split(".")
        try:
            body = _unb64(body_text)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(self._sign(body), signature):
            return None
        try:
            payload = json.loads(body)
        except ValueError:
            return None
        if payload.get("k") != kind or payload.get("exp", 0) < time.time() or payload.get("n") in self.revoked:
            return None
        return payload

    def csrf(self, payload: dict) -> str:
        """The CSRF token of a session."""
        return hmac.new(self.secret, f"csrf|{payload['n']}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, payload: dict, token: str | None) -> bool:
        """Whether a form's CSRF token belongs to the session."""
        return bool(token) and hmac.compare_digest(self.csrf(payload), str(token))


class RateLimiter:
    """At most ``attempts`` failed logins per ``window`` seconds per client address and per user name."""

    def __init__(self, attempts: int = 5, window: float = 60.0):
        self.attempts, self.window = attempts, window
        self._failures: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> collections.deque:
        q = self._failures[key]
        while q and q[0] < now - self.window:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> float:
        """Seconds to wait before another attempt (0 when allowed)."""
        now = time.time()
        with self._lock:
            waits = [q[0] + self.window - now for k in keys if len(q := self._recent(k, now)) >= self.attempts]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        """Count one failed attempt against each key."""
        now = time.time()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)
