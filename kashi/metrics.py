"""Prometheus metrics (SPEC §10 ``/metrics``).

Counters of this API process, plus a collector that reads, at scrape time, what workers did from
PostgreSQL (events persisted, batches parked) and the queue from Redis (depth, worker lag), so that
one scrape of any API replica shows the whole pipeline without a multiprocess registry.
"""

from __future__ import annotations

import time

import orjson
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

EVENTS_ACCEPTED = Counter("kashi_events_accepted", "Usage events answered 202 by this API process")
EVENTS_REJECTED = Counter("kashi_batches_rejected", "Usage batches rejected (422 or 413) by this API process")
REQUEST_SECONDS = Histogram(
    "kashi_http_request_duration_seconds", "HTTP request latency", ["method", "route", "status"]
)


class PipelineCollector(Collector):
    """Gauges read from PostgreSQL and Redis at scrape time."""

    def __init__(self, engine, redis_client, namespace: str, queue: str = "ingest"):
        self.engine, self.redis, self.namespace, self.queue = engine, redis_client, namespace, queue

    def collect(self):
        persisted = GaugeMetricFamily("kashi_events_persisted", "Usage events in the log (new ones, not resends)")
        parked = GaugeMetricFamily("kashi_batches_parked", "Batches parked after repeated failed deliveries")
        depth = GaugeMetricFamily("kashi_queue_depth", "Messages waiting or in flight on the ingest queue")
        lag = GaugeMetricFamily("kashi_worker_lag_seconds", "Age of the oldest message waiting on the ingest queue")
        try:
            with self.engine.connect() as conn:
                done, n_parked = conn.execute(
                    text(
                        "SELECT coalesce(sum(persisted) FILTER (WHERE status = 'done'), 0),"
                        " count(*) FILTER (WHERE status = 'parked') FROM ingest_batches"
                    )
                ).one()
            persisted.add_metric([], float(done))
            parked.add_metric([], float(n_parked))
        except Exception:  # noqa: BLE001 - a scrape must answer even while PostgreSQL is down
            pass
        try:
            key = f"{self.namespace}:{self.queue}"
            depth.add_metric([], float(self.redis.hlen(key + ".msgs")))
            oldest = self.redis.lindex(key, 0)
            age = 0.0
            if oldest:
                raw = self.redis.hget(key + ".msgs", oldest)
                if raw:
                    age = max(0.0, time.time() - orjson.loads(raw)["message_timestamp"] / 1000)
            lag.add_metric([], age)
        except Exception:  # noqa: BLE001 - likewise while Redis is down
            pass
        yield from (persisted, parked, depth, lag)
