"""The console's session: a signed, expiring cookie naming the API key that signed in, and the
CSRF token every form of that session carries.

The cookie holds the key's id and the token, never the key itself; it is signed (itsdangerous,
HMAC-SHA1 over a secret from the settings or, when unset, one generated once into the data dir)
and expires after ``console_session_hours``. Each request looks the key up again, so a revoked key
ends its sessions at once. Before sign-in there is no session: the sign-in form carries a token
that must match a short-lived signed cookie of its own (double submit).
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "kashi_session"
SIGNIN_COOKIE = "kashi_signin"
CSRF_FIELD = "csrf_token"
SIGNIN_MAX_AGE_S = 3600
SECRET_FILE = "console-secret"


@dataclass(frozen=True)
class Session:
    """Who signed in (the API key's id) and the CSRF token of this session."""

    key_id: str
    csrf: str


def secret_for(configured: str | None, data_dir: Path) -> str:
    """The signing secret: the configured one, else ``<data dir>/console-secret``, created on first use
    (mode 0600). Several API replicas must share it: set ``KASHI_CONSOLE_SECRET`` on each."""
    if configured:
        return configured
    path = Path(data_dir) / SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(candidate)
    return candidate


class Sessions:
    """Signs and reads session and sign-in cookies with one secret."""

    def __init__(self, secret: str, *, max_age_s: int):
        self.max_age_s = max_age_s
        self._session = URLSafeTimedSerializer(secret, salt="kashi.console.session")
        self._signin = URLSafeTimedSerializer(secret, salt="kashi.console.signin")

    def issue(self, key_id: str) -> tuple[Session, str]:
        """A new session for ``key_id`` (a fresh CSRF token) and its cookie value."""
        session = Session(key_id=key_id, csrf=secrets.token_urlsafe(32))
        return session, self._session.dumps({"k": session.key_id, "c": session.csrf})

    def read(self, cookie: str | None) -> Session | None:
        """The session of a cookie, or None when it is missing, tampered with or expired."""
        if not cookie:
            return None
        try:
            data = self._session.loads(cookie, max_age=self.max_age_s)
        except BadSignature:  # SignatureExpired is a BadSignature too
            return None
        if not isinstance(data, dict) or not isinstance(data.get("k"), str) or not isinstance(data.get("c"), str):
            return None
        return Session(key_id=data["k"], csrf=data["c"])

    def signin_token(self) -> tuple[str, str]:
        """(token for the sign-in form, the cookie value that vouches for it)."""
        token = secrets.token_urlsafe(32)
        return token, self._signin.dumps(token)

    def signin_token_valid(self, cookie: str | None, submitted: str | None) -> bool:
        if not cookie or not submitted:
            return False
        try:
            expected = self._signin.loads(cookie, max_age=SIGNIN_MAX_AGE_S)
        except BadSignature:
            return False
        return isinstance(expected, str) and hmac.compare_digest(expected, submitted)


def csrf_valid(session: Session | None, submitted: str | None) -> bool:
    """True when a form's token is this session's (compared in constant time)."""
    return session is not None and bool(submitted) and hmac.compare_digest(session.csrf, str(submitted))
