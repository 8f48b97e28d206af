"""Webhooks on real servers: the outbox written with the change, delivered at least once to a real HTTP
receiver on 127.0.0.1 that fails its first answers, signed as documented (SPEC §13)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from billing.core.periods import Period
from billing.services import invoices
from billing.services.close import close_tenant
from billing.store import outbox
from tests.integration.billing_scenario import contract, sign

MACHINES = {
    "id": "i-m",
    "pricing": "machine_month",
    "gpu_model": "RTX-4090",
    "cards_per_machine": 8,
    "machines": 1,
    "unit_price": "7200.00",
}


class Receiver:
    """An HTTP server that answers 503 to its first `failures` requests, then 204, and keeps each request."""

    def __init__(self, failures: int) -> None:
        self.failures, self.requests, self.accepted = failures, [], []
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.changed:
                    receiver.requests.append((dict(self.headers), body))
                    ok = len(receiver.requests) > receiver.failures
                    if ok:
                        receiver.accepted.append((dict(self.headers), body))
                    receiver.changed.notify_all()
                self.send_response(204 if ok else 503)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout_s: float = 90) -> list:
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while len({json.loads(b)["id"] for _, b in self.accepted}) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"only {len(self.accepted)} of {count} events accepted"
                self.changed.wait(left)
            return list(self.accepted)

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():
    receiver = Receiver(failures=3)
    yield receiver
    receiver.close()


def _verify(secret: str, header: str, body: bytes) -> bool:
    """The documented algorithm, written out: v1 = hex HMAC-SHA256(secret, "<t>.<body>")."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < 300


def test_every_event_reaches_a_receiver_that_fails_first_and_the_signature_verifies(
    kashi, uid, new_tenant, operator_client, receiver
):
    created = operator_client.post("/v1/webhooks", json={"url": receiver.url, "events": list(outbox.EVENT_TYPES)})
    assert created.status_code == 201, created.text
    endpoint = created.json()
    secret = endpoint.pop("secret")
    assert secret.startswith("whsec_") and operator_client.get(f"/v1/webhooks/{endpoint['id']}").json() == endpoint
    try:
        sign(kashi, contract(f"c-{uid}", new_tenant, MACHINES))
        (invoice_id,) = close_tenant(kashi.engine, new_tenant, Period(2026, 9))
        payment = operator_client.post(
            "/v1/payments",
            json={
                "tenant_id": new_tenant,
                "amount": "1000.00",
                "currency": "CNY",
                "received_at": "2026-10-05T10:00:00+08:00",
                "reference": f"r-{uid}",
            },
        ).json()
        with kashi.engine.begin() as conn:
            note = invoices.issue_credit_note(conn, invoice_id, {"amount": "32.00", "reason": "补偿"})
            outbox.emit(conn, "batch.parked", {"batch_id": f"b-{uid}", "status": "parked"})
        with pytest.raises(RuntimeError), kashi.engine.begin() as conn:
            outbox.emit(conn, "contract.at_risk", {"contract_id": f"rolled-back-{uid}"})
            raise RuntimeError("the change fails: its event must never be sent")
        accepted = receiver.wait_for(5)
    finally:
        deliveries = operator_client.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()["items"]
        assert operator_client.delete(f"/v1/webhooks/{endpoint['id']}").status_code == 204
    assert len(receiver.requests) >= 5 + 3
    events = {}
    for headers, body in accepted:
        assert _verify(secret, headers["Kashi-Signature"], body)
        event = json.loads(body)
        assert headers["Kashi-Event-Id"] == event["id"] and set(event) == {"id", "type", "created_at", "data"}
        events[event["type"]] = event["data"]
    assert sorted(events) == [
        "batch.parked",
        "credit_note.issued",
        "invoice.issued",
        "payment.recorded",
        "period.closed",
    ]
    assert events["invoice.issued"]["id"] == invoice_id and events["invoice.issued"]["total"] == "7632.00"
    assert events["payment.recorded"]["id"] == payment["id"] and events["credit_note.issued"]["id"] == note["id"]
    assert events["period.closed"] == {
        "tenant_id": new_tenant,
        "period": "2026-09",
        "invoice_ids": [invoice_id],
        "closed_at": events["period.closed"]["closed_at"],
    }
    assert not any(b"rolled-back" in body for _, body in receiver.requests)
    assert not _verify(secret, accepted[0][0]["Kashi-Signature"], accepted[0][1] + b" ")  # any change breaks it
    failed_first = [d for d in deliveries if d["log"] and d["log"][0]["status_code"] == 503]
    assert failed_first and all(d["status"] in ("delivered", "pending") for d in deliveries)
    assert operator_client.get(f"/v1/webhooks/{endpoint['id']}").status_code == 404


def test_webhook_bodies_are_validated(operator_client):
    for body, field in (
        ({"url": "ftp://x", "events": ["invoice.issued"]}, "url"),
        ({"url": "https://x.example", "events": ["invoice.paid"]}, "events.0"),
        ({"url": "https://x.example", "events": ["invoice.issued"], "secret": "mine"}, "secret"),
    ):
        answer = operator_client.post("/v1/webhooks", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["details"][0]["field"] == field


def test_a_parked_batch_is_in_the_outbox_of_the_parking_transaction(kashi, uid):
    from sqlalchemy import text

    from metering.receipts import Receipts, view
    from metering.record import record
    from workers.actors import _emit_parked

    batch_id = f"b-{uid}"
    outcome = record(kashi.engine, batch_id, [], max_attempts=0, on_parked=_emit_parked)
    assert outcome.status == "parked"
    with kashi.engine.connect() as conn:
        bodies = conn.execute(text("SELECT body FROM webhook_events WHERE type = 'batch.parked'")).scalars().all()
    (event,) = [json.loads(b) for b in bodies if batch_id in b]
    assert event["data"]["batch_id"] == batch_id and event["data"]["status"] == "parked"
    with kashi.engine.connect() as conn:  # the resource's JSON (SPEC §13): the batch as its receipt shows it
        shown = view(conn, Receipts(kashi._workers[0].broker.client, kashi.settings.queue_namespace), batch_id)
    assert {k: event["data"][k] for k in shown if k != "key_id"} == {k: v for k, v in shown.items() if k != "key_id"}
    assert event["data"]["attempts"] == 1 and "parked" in event["data"]["error"]
