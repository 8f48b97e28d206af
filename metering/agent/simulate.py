"""A simulated GPU node: CloudEvents for demos, benchmarks and property tests (SPEC §3).

`simulate_events` is pure and deterministic for a given seed: the same arguments give the same
events, byte for byte. It models what a real node sends a Kashi server:

* GPUs leased to tenants for spans of hours, with idle gaps (an idle GPU sends nothing);
* one `gpu.usage` event per leased GPU per window, id ``{node}-{gpu}-{window start epoch}``;
* exact resends (same source and id, as after a lost 202) — the server must count them once;
* overlapping reports with *different* ids for the same GPU and tenant covering part of an
  earlier window (e.g. a second agent or a replayed partial window) — counted once as a union;
* optional `llm.tokens` events for the same tenants;
* optional `gpu.status` (SPEC §15, ``status=True``): one per GPU per window, idle, allocated or
  down — a fraction `down_ratio` of the GPUs goes down for 1–3 windows (an XID, a card off the
  bus), sending no `gpu.usage` while down.

`expected_card_seconds` is the oracle: what the server must arrive at for those events.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

TOKEN_MODELS = ("qwen2.5-72b", "deepseek-v3", "llama-3.1-8b")


def gpu_uuid(source: str, index: int) -> str:
    """A stable NVIDIA-style UUID (``GPU-xxxxxxxx-…``) for simulated GPU `index` of `source`."""
    digest = hashlib.sha256(f"{source}/{index}".encode()).digest()[:16]
    return f"GPU-{uuid.UUID(bytes=digest)}"


def _iso(t: datetime) -> str:
    return t.isoformat()


def _lease_timeline(rng: random.Random, windows: int, window_s: int, tenant_ids: list[str]) -> list[str | None]:
    """Holder of one GPU for each window: leases of 2–12 h, idle gaps of 1–4 h, some GPUs idle all day."""
    per_hour = max(1, round(3600 / window_s))
    holders: list[str | None] = []
    if rng.random() < 0.1:
        return [None] * windows
    idle = rng.random() < 0.3
    while len(holders) < windows:
        if idle:
            span = rng.randint(1, 4) * per_hour
            holders.extend([None] * span)
        else:
            span = rng.randint(2, 12) * per_hour
            holders.extend([rng.choice(tenant_ids)] * span)
        idle = not idle if rng.random() < 0.8 else idle
    return holders[:windows]


def simulate_events(
    *,
    gpus: int = 16,
    tenants: int = 2,
    start: datetime,
    hours: int = 24,
    window_s: int = 3600,
    seed: int = 0,
    source: str = "node/sim-1",
    tenant_ids: list[str] | None = None,
    gpu_model: str = "H100-SXM",
    token_events: int = 0,
    resend_ratio: float = 0.05,
    overlap_ratio: float = 0.05,
    status: bool = False,
    down_ratio: float = 0.1,
) -> list[dict]:
    """CloudEvent dicts of a simulated node over ``[start, start + hours)``.

    gpus: cards on the node. tenants: how many tenants lease them, named ``tenant-1`` … unless
    `tenant_ids` is given (then it is used as is and `tenants` is ignored). start: aware datetime;
    event times keep its UTC offset. window_s: seconds per `gpu.usage` interval (1 … 86,400),
    windows aligned to `start`; the last one is cut at the end. seed: everything random derives
    from it. gpu_model: catalog name put in ``data.gpu_model``. token_events: how many extra
    `llm.tokens` events. resend_ratio: fraction of usage events sent again verbatim.
    overlap_ratio: fraction of usage events followed by an overlapping report with another id.
    status: also send `gpu.status` per GPU per window. down_ratio: fraction of GPUs that go down
    once (for 1–3 windows) when `status` is on. Without `status` the events are those of earlier
    versions for the same seed (the status draws use a generator of their own).
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be an aware datetime (RFC 3339 needs an offset)")
    if not 1 <= window_s <= 86_400:
        raise ValueError("window_s must be between 1 and 86400 seconds")
    if gpus < 0 or hours < 0 or token_events < 0:
        raise ValueError("gpus, hours and token_events must not be negative")
    ids = list(tenant_ids) if tenant_ids is not None else [f"tenant-{i + 1}" for i in range(tenants)]
    if not ids:
        raise ValueError("at least one tenant is needed")
    rng = random.Random(seed)
    node = source.split("/", 1)[-1]
    end = start + timedelta(hours=hours)
    total_s = int((end - start).total_seconds())
    windows = -(-total_s // window_s)

    status_rng = random.Random(f"{seed}/status")
    usage: list[dict] = []
    statuses: list[dict] = []
    for g in range(gpus):
        uid = gpu_uuid(source, g)
        base_util = 0.0
        previous: str | None = None
        down: set[int] = set()
        if status and windows and status_rng.random() < down_ratio:
            first = status_rng.randrange(windows)
            down = set(range(first, min(windows, first + status_rng.randint(1, 3))))
        for w, holder in enumerate(_lease_timeline(rng, windows, window_s, ids)):
            if status:
                ws = start + timedelta(seconds=w * window_s)
                we = min(end, ws + timedelta(seconds=window_s))
                state = "down" if w in down else "idle" if holder is None else "allocated"
                statuses.append(_status_event(source, node, uid, gpu_model, state, holder, ws, we))
                if w in down:
                    previous = None
                    continue
            if holder is None:
                previous = None
                continue
            if holder != previous:
                base_util = rng.uniform(0.2, 0.95)
            previous = holder
            ws = start + timedelta(seconds=w * window_s)
            we = min(end, ws + timedelta(seconds=window_s))
            util = min(1.0, max(0.0, base_util + rng.uniform(-0.1, 0.1)))
            usage.append(_usage_event(source, node, uid, gpu_model, holder, ws, we, f"{util:.2f}"))

    overlaps: list[dict] = []
    for k, original in enumerate(rng.sample(usage, round(len(usage) * overlap_ratio))):
        ws = datetime.fromisoformat(original["data"]["start"])
        we = datetime.fromisoformat(original["data"]["end"])
        length = int((we - ws).total_seconds())
        a = rng.randint(0, max(0, length - 1))
        b = rng.randint(a + 1, length)
        event = _usage_event(
            source,
            node,
            original["data"]["gpu"],
            gpu_model,
            original["subject"],
            ws + timedelta(seconds=a),
            ws + timedelta(seconds=b),
            original["data"]["utilization"],
        )
        event["id"] = f"{original['id']}-overlap-{k}"
        overlaps.append(event)

    tokens: list[dict] = []
    for k in range(token_events):
        at = start + timedelta(seconds=rng.randrange(max(1, total_s)))
        inp, out = rng.randint(0, 20_000), rng.randint(1, 4_000)
        tokens.append(
            {
                "specversion": "1.0",
                "id": f"{node}-tok-{seed}-{k}",
                "source": source,
                "type": "llm.tokens",
                "subject": rng.choice(ids),
                "time": _iso(at),
                "data": {
                    "model": rng.choice(TOKEN_MODELS),
                    "input_tokens": inp,
                    "output_tokens": out,
                    "cached_tokens": rng.randint(0, inp // 2),
                },
            }
        )

    events = sorted(usage + overlaps + tokens + statuses, key=lambda e: (e["time"], e["id"]))
    position = {id(e): float(i) for i, e in enumerate(events)}
    keyed = [(position[id(e)], e) for e in events]
    for original in rng.sample(usage, round(len(usage) * resend_ratio)):
        # a resend arrives after its original, never before
        later = rng.uniform(position[id(original)], len(events)) + 0.5
        keyed.append((later, dict(original, data=dict(original["data"]))))
    keyed.sort(key=lambda pair: pair[0])
    return [e for _, e in keyed]


def _usage_event(
    source: str, node: str, gpu: str, model: str, tenant: str, ws: datetime, we: datetime, util: str
) -> dict:
    return {
        "specversion": "1.0",
        "id": f"{node}-{gpu}-{int(ws.timestamp())}",
        "source": source,
        "type": "gpu.usage",
        "subject": tenant,
        "time": _iso(we),
        "data": {
            "node": node,
            "gpu": gpu,
            "gpu_model": model,
            "start": _iso(ws),
            "end": _iso(we),
            "utilization": util,
        },
    }


def _status_event(
    source: str, node: str, gpu: str, model: str, state: str, tenant: str | None, ws: datetime, we: datetime
) -> dict:
    data = {"node": node, "gpu": gpu, "gpu_model": model, "start": _iso(ws), "end": _iso(we), "state": state}
    if state == "down":
        data["reason"] = "XID 79 (DCGM_FI_DEV_XID_ERRORS)"
    event = {
        "specversion": "1.0",
        "id": f"{node}-{gpu}-status-{int(ws.timestamp())}",
        "source": source,
        "type": "gpu.status",
        "time": _iso(we),
        "data": data,
    }
    if state == "allocated" and tenant:
        event["subject"] = tenant
    return event


def expected_status_seconds(events: Iterable[dict]) -> dict[str, int]:
    """Card-seconds per `gpu.status` state (idle, allocated, down), resends counted once."""
    seen: set[tuple[str, str]] = set()
    result: dict[str, int] = defaultdict(int)
    for event in events:
        key = (event["source"], event["id"])
        if key in seen or event.get("type") != "gpu.status":
            seen.add(key)
            continue
        seen.add(key)
        data = event["data"]
        result[data["state"]] += _epoch(data["end"]) - _epoch(data["start"])
    return dict(result)


def _epoch(text: str) -> int:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp())


def union_seconds(intervals: Iterable[tuple[int, int]]) -> int:
    """Seconds covered by the union of half-open ``[start, end)`` intervals."""
    total, reach = 0, None
    for a, b in sorted(intervals):
        if reach is None or a > reach:
            total += b - a
            reach = b
        elif b > reach:
            total += b - reach
            reach = b
    return total


def expected_card_seconds(events: Iterable[dict]) -> dict[tuple[str, str], int]:
    """Card-seconds per ``(tenant, gpu_model)`` a server must count for `events` (SPEC §2, §3).

    The first event seen for a ``(source, id)`` wins and later ones change nothing; for each
    tenant and GPU the reported ``[start, end)`` intervals count once (their union), in whole
    seconds, whatever their order. `llm.tokens` events are ignored.
    """
    seen: set[tuple[str, str]] = set()
    spans: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
    for event in events:
        key = (event["source"], event["id"])
        if key in seen:
            continue
        seen.add(key)
        if event.get("type") != "gpu.usage":
            continue
        data = event["data"]
        spans[(event["subject"], data["gpu_model"], data["gpu"])].append((_epoch(data["start"]), _epoch(data["end"])))
    result: dict[tuple[str, str], int] = defaultdict(int)
    for (tenant, model, _gpu), intervals in spans.items():
        result[(tenant, model)] += union_seconds(intervals)
    return dict(result)


def expected_tokens(events: Iterable[dict]) -> dict[tuple[str, str], tuple[int, int, int]]:
    """``(input, output, cached)`` token totals per ``(tenant, model)``, resends counted once."""
    seen: set[tuple[str, str]] = set()
    result: dict[tuple[str, str], tuple[int, int, int]] = {}
    for event in events:
        key = (event["source"], event["id"])
        if key in seen or event.get("type") != "llm.tokens":
            seen.add(key)
            continue
        seen.add(key)
        d = event["data"]
        i, o, c = result.get((event["subject"], d["model"]), (0, 0, 0))
        result[(event["subject"], d["model"])] = (
            i + d.get("input_tokens", 0),
            o + d.get("output_tokens", 0),
            c + d.get("cached_tokens", 0),
        )
    return result
