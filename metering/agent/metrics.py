"""The agent's own Prometheus metrics, in a registry of its own (several agents per process in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.spooled = Counter("kashi_agent_events_spooled", "Events written to the spool.", registry=r)
        self.sent = Counter("kashi_agent_events_sent", "Events the server accepted (202).", registry=r)
        self.failed = Counter("kashi_agent_events_failed", "Events the server rejected (dead letters).", registry=r)
        self.refused = Counter("kashi_agent_events_refused", "Events refused because the spool was full.", registry=r)
        self.send_errors = Counter(
            "kashi_agent_send_errors", "Failed send attempts, by reason.", ["reason"], registry=r
        )
        self.collect_errors = Counter(
            "kashi_agent_collect_errors", "Failed collector reads, by collector.", ["collector"], registry=r
        )
        self.spool_depth = Gauge("kashi_agent_spool_depth", "Events waiting in the spool.", registry=r)
        self.spool_bytes = Gauge("kashi_agent_spool_bytes", "Bytes of events in the spool.", registry=r)
        self.collector = Gauge(
            "kashi_agent_collector", "The GPU collector in use (1 for the chosen one).", ["collector"], registry=r
        )
        self.no_gpus = Counter(
            "kashi_agent_no_gpus_while_leased",
            "Windows in which the collector saw no GPU while GPUs were held (never a silent zero).",
            ["collector"],
            registry=r,
        )
        self.mig_split = Counter(
            "kashi_agent_mig_split",
            "Observations of a MIG card whose instances have different holders (the card is not billed to one tenant).",
            registry=r,
        )
        self.allocation_errors = Counter(
            "kashi_agent_allocation_errors",
            "Allocation source failures, by source and reason.",
            ["source", "reason"],
            registry=r,
        )
        self.gpus = Gauge(
            "kashi_agent_gpus",
            "GPUs seen on the node (capacity), by state (allocated, idle, down).",
            ["state"],
            registry=r,
        )

    def serve(self, port: int, address: str = "0.0.0.0") -> None:
        start_http_server(port, addr=address, registry=self.registry)
