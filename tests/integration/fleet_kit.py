"""Builders for the fleet tests: `gpu.status` and `gpu.usage` events of one node, sent as its agent."""

from __future__ import annotations


def status(
    uid: str,
    gpu: str,
    start: str,
    end: str,
    state: str,
    *,
    node: str = "n1",
    model: str = "H100-SXM",
    n: str | None = None,
    **extra,
) -> dict:
    data = {
        "node": f"{uid}-{node}",
        "gpu": f"{uid}-{gpu}",
        "gpu_model": model,
        "start": start,
        "end": end,
        "state": state,
        **extra,
    }
    return {
        "specversion": "1.0",
        "id": n or f"{uid}-{gpu}-status-{start}-{end}",
        "source": f"node/{uid}",
        "type": "gpu.status",
        "time": end,
        "data": data,
    }


def usage(
    uid: str,
    gpu: str,
    tenant: str,
    start: str,
    end: str,
    *,
    node: str = "n1",
    model: str = "H100-SXM",
    utilization: str | None = None,
    n: str | None = None,
    contract_id: str | None = None,
) -> dict:
    data = {"node": f"{uid}-{node}", "gpu": f"{uid}-{gpu}", "gpu_model": model, "start": start, "end": end}
    if utilization is not None:
        data["utilization"] = utilization
    if contract_id is not None:
        data["contract_id"] = contract_id
    return {
        "specversion": "1.0",
        "id": n or f"{uid}-{gpu}-usage-{start}-{end}",
        "source": f"node/{uid}",
        "type": "gpu.usage",
        "subject": tenant,
        "time": end,
        "data": data,
    }
