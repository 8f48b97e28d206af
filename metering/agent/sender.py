"""Delivery of spooled events to ``{server}/v1/events`` (SPEC §3, §9).

Each call of `Sender.send_batch` POSTs the oldest pending events (at most 10,000 events and
5 MiB) as ``application/cloudevents-batch+json`` with the agent's bearer key, and acts on the
answer:

* 202: the events leave the spool (and only then);
* 422 (or 400): the server's ``{"error": {"code", "message", "details": [{"index", "field",
  "reason"}]}}`` is logged; the events it names go to the dead letters and the rest are sent
  again; without usable indices the whole batch goes (a batch is validated whole, so one bad
  event must not hold back the good ones, nor be retried forever);
* 413: the next batches are halved;
* 401/403 (and 404: wrong server URL): logged as errors and retried slowly;
* 429, 5xx, timeouts, refused connections: retried with exponential backoff and jitter,
  honouring ``Retry-After``.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from metering.agent.spool import Spool

if TYPE_CHECKING:
    from metering.agent.metrics import AgentMetrics

log = logging.getLogger("kashi.agent.sender")

MAX_EVENTS = 10_000
MAX_BYTES = 5 * 1024 * 1024
CONTENT_TYPE = "application/cloudevents-batch+json"


def backoff_delay(attempt: int, rng: random.Random, base_s: float = 1.0, cap_s: float = 300.0) -> float:
    """Seconds to wait before retry number `attempt` (0, 1, …): "equal jitter".

    Half of ``min(cap, base·2^attempt)`` plus a uniform random part of the other half, so the
    delay is always within ``[d/2, d]`` for that d: never zero (no hammering a server that is
    down), never past `cap_s`, and agents restarted together spread out.
    """
    ceiling = min(cap_s, base_s * (2 ** min(attempt, 32)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class Outcome:
    """What one send attempt did. retry_in: seconds to wait before the next attempt, if any."""

    status: str  # "empty" | "sent" | "rejected" | "retry"
    sent: int = 0
    dead: int = 0
    retry_in: float | None = None


class Sender:
    """Sends the spool's oldest batch to the server, one POST per `send_batch` call."""

    def __init__(
        self,
        spool: Spool,
        server: str,
        key: str,
        *,
        client: httpx.Client | None = None,
        metrics: AgentMetrics | None = None,
        rng: random.Random | None = None,
        base_s: float = 1.0,
        cap_s: float = 300.0,
        auth_retry_s: float = 300.0,
        timeout_s: float = 30.0,
    ) -> None:
        self.spool = spool
        self.url = server.rstrip("/") + "/v1/events"
        self.key = key
        self.client = client or httpx.Client(timeout=timeout_s)
        self.metrics = metrics
        self.rng = rng or random.Random()
        self.base_s, self.cap_s, self.auth_retry_s = base_s, cap_s, auth_retry_s
        self.max_events = MAX_EVENTS
        self.failures = 0

    def _retry(self, reason: str, retry_after: float | None = None, slow: bool = False) -> Outcome:
        delay = backoff_delay(self.failures, self.rng, self.base_s, self.cap_s)
        if slow:
            delay = max(delay, self.auth_retry_s)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap_s))
        self.failures += 1
        if self.metrics:
            self.metrics.send_errors.labels(reason=reason).inc()
        return Outcome("retry", retry_in=delay)

    def send_batch(self) -> Outcome:
        batch = self.spool.oldest(self.max_events, MAX_BYTES)
        if not batch:
            return Outcome("empty")
        body = ("[" + ",".join(e.body for e in batch) + "]").encode()
        batch_ref = f"{batch[0].seq}-{batch[-1].seq}"
        try:
            response = self.client.post(
                self.url,
                content=body,
                headers={"Authorization": f"Bearer {self.key}", "Content-Type": CONTENT_TYPE},
            )
        except httpx.HTTPError as error:
            log.warning(
                "server unreachable, will retry",
                extra={"url": self.url, "batch": batch_ref, "events": len(batch), "error": repr(error)},
            )
            return self._retry("network")
        status = response.status_code
        if status == 202:
            self.spool.acknowledge(e.seq for e in batch)
            self.failures = 0
            if self.metrics:
                self.metrics.sent.inc(len(batch))
            log.info("batch accepted", extra={"batch": batch_ref, "events": len(batch)})
            return Outcome("sent", sent=len(batch))
        if status in (400, 422):
            return self._rejected(batch, batch_ref, response)
        if status == 413:
            self.max_events = max(1, len(batch) // 2)
            log.warning("batch too large for the server, halving", extra={"batch": batch_ref, "events": len(batch)})
            if len(batch) == 1:
                return self._bury_all(batch, batch_ref, "413: event larger than the server accepts")
            return Outcome("retry", retry_in=0.0)
        if status in (401, 403, 404):
            log.error(
                "server refused the agent: check the key, its bound source and the server URL",
                extra={"status": status, "url": self.url, "batch": batch_ref, "answer": response.text[:500]},
            )
            return self._retry(str(status), slow=True)
        retry_after = _retry_after(response)
        log.warning(
            "server busy or failing, will retry",
            extra={"status": status, "batch": batch_ref, "events": len(batch), "retry_after": retry_after},
        )
        return self._retry(str(status), retry_after)

    def _rejected(self, batch, batch_ref: str, response: httpx.Response) -> Outcome:
        try:
            error = response.json().get("error", {})
        except (ValueError, AttributeError):
            error = {}
        details = error.get("details") if isinstance(error, dict) else None
        log.error(
            "server rejected the batch",
            extra={
                "status": response.status_code,
                "batch": batch_ref,
                "events": len(batch),
                "code": error.get("code") if isinstance(error, dict) else None,
                "server_message": error.get("message") if isinstance(error, dict) else response.text[:500],
                "details": details,
            },
        )
        reasons: dict[int, list[str]] = {}
        for d in details if isinstance(details, list) else []:
            index = d.get("index") if isinstance(d, dict) else None
            if isinstance(index, int) and 0 <= index < len(batch):
                reasons.setdefault(index, []).append(f"{d.get('field')}: {d.get('reason')}")
        self.failures = 0
        if not reasons:
            return self._bury_all(batch, batch_ref, json.dumps(error or response.text[:500]))
        dead = {batch[i].seq: f"{response.status_code} " + "; ".join(r) for i, r in reasons.items()}
        self.spool.bury(dead)
        if self.metrics:
            self.metrics.failed.inc(len(dead))
        return Outcome("rejected", dead=len(dead), retry_in=0.0)

    def _bury_all(self, batch, batch_ref: str, reason: str) -> Outcome:
        self.spool.bury({e.seq: reason for e in batch})
        if self.metrics:
            self.metrics.failed.inc(len(batch))
        log.error("batch set aside in the dead letters", extra={"batch": batch_ref, "events": len(batch)})
        return Outcome("rejected", dead=len(batch), retry_in=0.0)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
