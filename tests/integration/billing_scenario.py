"""Builders for the month-close tests: contracts signed onto their streams, usage sent through the API."""

from __future__ import annotations

import httpx
from sqlalchemy import text


def sign(kashi, document: dict) -> None:
    """Sign a SPEC §4 contract through the contracts service (stream `contract:<id>` and projection)."""
    from billing.services import contracts as contracts_service

    with kashi.engine.begin() as conn:
        contracts_service.sign(conn, document, actor="test")


def contract(contract_id: str, tenant_id: str, *items: dict, **terms) -> dict:
    return {
        "id": contract_id,
        "tenant_id": tenant_id,
        "currency": "CNY",
        "tax_rate": "0.06",
        "start": "2026-09-01T00:00:00+08:00",
        "closed_months": 12,
        "open_months": 12,
        "notice_days": 30,
        "penalty": {"basis": "remaining_closed_value", "rate": "0.20"},
        "items": list(items),
        **terms,
    }


def gpu_event(uid: str, n: int, tenant: str, start: str, end: str, gpu: str = "G0", model: str = "H100-SXM") -> dict:
    return {
        "specversion": "1.0",
        "id": f"{uid}-{n}",
        "source": f"node/{uid}",
        "type": "gpu.usage",
        "subject": tenant,
        "time": end,
        "data": {"node": "n1", "gpu": f"{uid}-{gpu}", "gpu_model": model, "start": start, "end": end},
    }


def token_event(uid: str, n: int, tenant: str, time: str, **counts) -> dict:
    data = {"model": "qwen2.5-72b", "input_tokens": 1_000_000, "output_tokens": 500_000, "cached_tokens": 0, **counts}
    return {
        "specversion": "1.0",
        "id": f"{uid}-tok-{n}",
        "source": f"node/{uid}",
        "type": "llm.tokens",
        "subject": tenant,
        "time": time,
        "data": data,
    }


def send(kashi, uid: str, events: list[dict]) -> None:
    """Send a batch as the node's agent and wait until the worker has persisted it."""
    key = kashi.key("agent", source=f"node/{uid}")
    answer = httpx.post(
        f"{kashi.base_url}/v1/events", json=events, timeout=60, headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 202, answer.text
    kashi.join()


def invoice_rows(kashi, tenant_id: str) -> list:
    with kashi.engine.connect() as conn:
        return conn.execute(text("SELECT * FROM invoices WHERE tenant_id = :t ORDER BY number"), {"t": tenant_id}).all()


def post_events(kashi, key: str, events: list[dict]) -> httpx.Response:
    return httpx.post(
        f"{kashi.base_url}/v1/events", json=events, timeout=60, headers={"Authorization": f"Bearer {key}"}
    )


def park(kashi, uid: str, tenant: str, events: list[dict]) -> str:
    """Send `events` and have the worker park them for real: with the workers stopped, the batch is
    marked as delivered max_attempts times already (each delivery died mid-batch), so the next
    delivery parks it with its payload, as a batch that kills its workers would be."""
    agent = kashi.key("agent", source=f"node/{uid}")
    kashi.stop_workers()
    try:
        answer = post_events(kashi, agent, events)
        assert answer.status_code == 202, answer.text
        batch_id = answer.json()["batch_id"]
        with kashi.engine.begin() as conn:
            conn.execute(
                text("""INSERT INTO ingest_batches (batch_id, status, attempts, events)
                        VALUES (:b, 'processing', :n, :e)"""),
                {"b": batch_id, "n": kashi.settings.max_batch_attempts, "e": len(events)},
            )
    finally:
        kashi.start_worker()
    kashi.join()
    return batch_id
