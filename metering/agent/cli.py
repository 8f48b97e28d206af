"""``kashi agent``: run the node agent, or simulate a node (mounted by kashi/cli.py).

Also runnable without the server packages: ``python -m metering.agent run --config agent.toml``.
"""

from __future__ import annotations

import json
import logging
import random
import signal
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import typer

from metering.agent import logs
from metering.agent.config import ConfigError, load_config
from metering.agent.loop import deliver, drain
from metering.agent.metrics import AgentMetrics
from metering.agent.sender import CONTENT_TYPE, MAX_BYTES, MAX_EVENTS, Sender, backoff_delay
from metering.agent.simulate import expected_card_seconds, expected_status_seconds, simulate_events
from metering.agent.spool import encode
from metering.agent.wiring import build_agent

log = logging.getLogger("kashi.agent.cli")

app = typer.Typer(
    help="The Kashi node agent: GPU and token usage from this node, spooled and sent as CloudEvents.",
    no_args_is_help=True,
)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _print_events(events: list[dict]) -> None:
    for event in events:
        sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _sleep_to_next_sample(stop: threading.Event, sample_s: float) -> None:
    stop.wait(sample_s - (time.time() % sample_s))


@app.command()
def run(
    config: Path = typer.Option(None, "--config", "-c", help="agent.toml (default: $KASHI_AGENT_CONFIG)."),
    once: bool = typer.Option(False, "--once", help="Collect one window, send it and what is spooled, exit."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the events as JSON lines; spool and send nothing."),
) -> None:
    """Observe this node's GPUs every few seconds and send a usage event per GPU per window."""
    try:
        cfg = load_config(config)
    except ConfigError as error:
        raise _fail(str(error)) from error
    logs.configure(cfg.log_level)
    key = cfg.api_key()
    if not dry_run and not (cfg.server and key):
        raise _fail("server and key (or key_file, or KASHI_AGENT_KEY) are needed unless --dry-run")
    metrics = AgentMetrics()
    if cfg.metrics.port and not dry_run:
        metrics.serve(cfg.metrics.port, cfg.metrics.address)
    try:
        agent = build_agent(cfg, dry_run=dry_run, emit=_print_events, metrics=metrics)
    except ValueError as error:  # e.g. a sacct_command whose output cannot be read: refused at start
        raise _fail(f"allocation: {error}") from error
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sender = None if dry_run else Sender(agent.spool, cfg.server, key, metrics=metrics)

    if once:
        agent.tick()
        first = agent.window
        while agent.window is first and not stop.is_set():
            _sleep_to_next_sample(stop, cfg.sample_seconds)
            agent.tick()
        if agent.window is first:  # interrupted: bill what was seen
            agent.close_window(agent.clock())
        if sender is not None and not drain(sender, time.sleep):
            raise _fail("the server did not take every event; they stay in the spool for the next run", 1)
        return

    courier = None
    if sender is not None:
        courier = threading.Thread(target=deliver, args=(sender, stop, agent.wake, metrics), daemon=True)
        courier.start()
    while not stop.is_set():
        agent.tick()
        _sleep_to_next_sample(stop, cfg.sample_seconds)
    agent.close_window(agent.clock())
    if courier is not None:
        agent.wake.set()
        courier.join(timeout=35)
        # The courier stops with the loop, so the window just closed is sent here, briefly: a
        # server that does not answer within the shutdown grace leaves it spooled for the next start.
        if not courier.is_alive() and not drain(sender, time.sleep, attempts=2, max_wait_s=2.0):
            log.warning(
                "stopping with events spooled; they are sent on the next start",
                extra={"spool_depth": agent.spool.depth()},
            )


def _send_simulated(events: list[dict], server: str, key: str) -> int:
    url = server.rstrip("/") + "/v1/events"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": CONTENT_TYPE}
    rng = random.Random()
    accepted = 0
    batch: list[str] = []
    size = 2
    batches: list[list[str]] = []
    for event in events:
        body = encode(event)
        if batch and (len(batch) >= MAX_EVENTS or size + len(body) + 1 > MAX_BYTES):
            batches.append(batch)
            batch, size = [], 2
        batch.append(body)
        size += len(body.encode()) + 1
    if batch:
        batches.append(batch)
    with httpx.Client(timeout=60) as client:
        for number, bodies in enumerate(batches):
            content = ("[" + ",".join(bodies) + "]").encode()
            for attempt in range(6):
                try:
                    response = client.post(url, content=content, headers=headers)
                except httpx.HTTPError as error:
                    typer.echo(f"batch {number}: {error!r}, retrying", err=True)
                    time.sleep(backoff_delay(attempt, rng, 0.5, 10))
                    continue
                if response.status_code == 202:
                    accepted += len(bodies)
                    break
                if response.status_code >= 500 or response.status_code == 429:
                    time.sleep(backoff_delay(attempt, rng, 0.5, 10))
                    continue
                raise _fail(f"batch {number}: server answered {response.status_code}: {response.text[:2000]}", 1)
            else:
                raise _fail(f"batch {number}: server kept failing", 1)
    return accepted


@app.command()
def simulate(
    gpus: int = typer.Option(16, help="GPUs on the simulated node."),
    tenants: int = typer.Option(2, help="Tenants leasing them (tenant-1 …)."),
    hours: int = typer.Option(24, help="Hours of usage to generate."),
    start: str = typer.Option(None, help="Start, RFC 3339 (default: this hour minus --hours, Asia/Shanghai)."),
    seed: int = typer.Option(0, help="Seed: the same seed gives the same events."),
    window: int = typer.Option(3600, help="Seconds per gpu.usage interval."),
    token_events: int = typer.Option(0, help="Also generate this many llm.tokens events."),
    source: str = typer.Option("node/sim-1", help="CloudEvents source (the agent key must be bound to it)."),
    gpu_model: str = typer.Option("H100-SXM", help="Catalog model of the simulated GPUs."),
    timezone: str = typer.Option("Asia/Shanghai", help="Zone for a --start without offset and the default start."),
    server: str = typer.Option(None, help="Send to this Kashi server instead of printing."),
    key: str = typer.Option(None, envvar="KASHI_AGENT_KEY", help="Agent key for --server."),
    out: Path = typer.Option(None, help="Write the JSON array to this file instead of stdout."),
    status: bool = typer.Option(False, "--status", help="Also send gpu.status per GPU per window (idle, down)."),
    down_ratio: float = typer.Option(0.1, help="With --status: fraction of GPUs that go down for 1-3 windows."),
) -> None:
    """Generate a realistic node's usage (leases, idle GPUs, resends, overlaps) for demos and benchmarks."""
    tz = ZoneInfo(timezone)
    if start:
        try:
            begin = datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError as error:
            raise _fail(f"--start {start!r} is not RFC 3339") from error
        if begin.tzinfo is None:
            begin = begin.replace(tzinfo=tz)
    else:
        begin = datetime.now(tz).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)
    try:
        events = simulate_events(
            gpus=gpus,
            tenants=tenants,
            start=begin,
            hours=hours,
            window_s=window,
            seed=seed,
            source=source,
            gpu_model=gpu_model,
            token_events=token_events,
            status=status,
            down_ratio=down_ratio,
        )
    except ValueError as error:
        raise _fail(str(error)) from error
    expected = {f"{t}/{m}": s for (t, m), s in sorted(expected_card_seconds(events).items())}
    if status:
        expected["status"] = expected_status_seconds(events)
    if server:
        if not key:
            raise _fail("--server needs --key (or KASHI_AGENT_KEY)")
        accepted = _send_simulated(events, server, key)
        typer.echo(json.dumps({"sent": accepted, "expected_card_seconds": expected}), err=True)
        return
    text = json.dumps(events, ensure_ascii=False, indent=None)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(json.dumps({"written": len(events), "file": str(out), "expected_card_seconds": expected}), err=True)
    else:
        sys.stdout.write(text + "\n")
