"""The console's session cookie and CSRF tokens: signed, expiring, compared in constant time."""

from __future__ import annotations

import os
import stat

from freezegun import freeze_time

from kashi.console.session import Sessions, csrf_valid, secret_for


def test_a_session_round_trips_and_names_the_key_id_not_the_key():
    sessions = Sessions("s3cret", max_age_s=3600)
    session, cookie = sessions.issue("ab12cd34ef56")
    assert sessions.read(cookie) == session
    assert session.key_id == "ab12cd34ef56" and len(session.csrf) >= 32


def test_a_tampered_or_foreign_cookie_is_no_session():
    sessions = Sessions("s3cret", max_age_s=3600)
    _, cookie = sessions.issue("ab12cd34ef56")
    assert sessions.read(cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")) is None
    assert Sessions("other", max_age_s=3600).read(cookie) is None
    assert sessions.read("") is None and sessions.read(None) is None and sessions.read("garbage") is None


def test_a_session_expires():
    sessions = Sessions("s3cret", max_age_s=8 * 3600)
    with freeze_time("2026-12-01T08:00:00Z"):
        _, cookie = sessions.issue("ab12cd34ef56")
    with freeze_time("2026-12-01T15:59:00Z"):
        assert sessions.read(cookie) is not None
    with freeze_time("2026-12-01T16:00:02Z"):
        assert sessions.read(cookie) is None


def test_csrf_token_must_be_this_sessions():
    sessions = Sessions("s3cret", max_age_s=3600)
    session, _ = sessions.issue("k1")
    other, _ = sessions.issue("k1")
    assert csrf_valid(session, session.csrf)
    assert not csrf_valid(session, other.csrf)
    assert not csrf_valid(session, "") and not csrf_valid(session, None) and not csrf_valid(None, session.csrf)


def test_the_signin_token_must_match_its_cookie():
    sessions = Sessions("s3cret", max_age_s=3600)
    token, cookie = sessions.signin_token()
    other, _ = sessions.signin_token()
    assert sessions.signin_token_valid(cookie, token)
    assert not sessions.signin_token_valid(cookie, other)
    assert not sessions.signin_token_valid(None, token) and not sessions.signin_token_valid(cookie, None)


def test_the_secret_is_generated_once_into_the_data_dir_unless_configured(tmp_path):
    first = secret_for(None, tmp_path)
    assert secret_for(None, tmp_path) == first and len(first) >= 48
    assert stat.S_IMODE(os.stat(tmp_path / "console-secret").st_mode) == 0o600
    assert secret_for("configured", tmp_path) == "configured"
