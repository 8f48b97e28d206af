"""The webhook signature and retry schedule, as documented (no servers)."""

from __future__ import annotations

import hashlib
import hmac

from billing.services.webhooks import RETRY_FOR_S, backoff_s, sign, verify


def test_signature_is_hex_hmac_sha256_of_timestamp_dot_body():
    body = b'{"id":"evt_1","type":"invoice.issued","created_at":"2026-10-01T00:00:00Z","data":{}}'
    expected = hmac.new(b"whsec_test", b"1764633600." + body, hashlib.sha256).hexdigest()
    assert sign("whsec_test", 1764633600, body) == f"t=1764633600,v1={expected}"
    assert verify("whsec_test", sign("whsec_test", 1764633600, body), body)
    assert not verify("whsec_other", sign("whsec_test", 1764633600, body), body)
    assert not verify("whsec_test", sign("whsec_test", 1764633600, body), body + b" ")
    assert not verify("whsec_test", "garbage", body)


def test_backoff_doubles_from_two_seconds_to_an_hour_and_retries_span_more_than_a_day():
    assert [backoff_s(n) for n in range(1, 7)] == [2, 4, 8, 16, 32, 64]
    assert backoff_s(12) == 3600 and backoff_s(40) == 3600
    elapsed, failures = 0, 0
    while elapsed < RETRY_FOR_S:
        failures += 1
        elapsed += backoff_s(failures)
    assert RETRY_FOR_S >= 24 * 3600 and 30 <= failures <= 40
