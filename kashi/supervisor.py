"""``kashi up``, ``kashi status`` and ``kashi down``: one supervised instance per data directory.

``up`` takes the data dir's lock (:mod:`kashi.instance`), checks the API's port, cleans what a
crashed predecessor left, starts a lifeline (:mod:`kashi.lifeline`), the servers, migrations, then
the API, workers and scheduler as children that die with it, and reports "is up" once *its own* API
answers ``/healthz`` with its instance id.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console

from kashi.instance import (
    DataDirLock,
    Instance,
    check_port_free,
    clean_stale,
    new_instance_id,
    now_text,
    pid_alive,
    running,
    server_pids,
    stop_servers,
)
from kashi.settings import Settings


class UpFailed(RuntimeError):
    """``kashi up`` could not start or a child exited; the message says why."""


@dataclass(frozen=True)
class UpOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    scheduler: bool = True
    api_processes: int = 1
    """API processes sharing the port (SO_REUSEPORT: the kernel spreads connections over them)."""


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def health(url: str, timeout_s: float = 1) -> dict | None:
    """The JSON ``/healthz`` answers at ``url`` (200 or 503), or None when nothing answers."""
    import httpx

    try:
        answer = httpx.get(f"{url}/healthz", timeout=timeout_s)
        return answer.json() | {"http_status": answer.status_code}
    except (httpx.HTTPError, ValueError):
        return None


def run_up(settings: Settings, options: UpOptions, err: Console) -> None:
    """Run until SIGINT/SIGTERM; raise :class:`UpFailed` (after stopping everything) on failure."""
    from kashi.db import make_engine
    from kashi.embedded import EmbeddedServers
    from kashi.lifeline import die_with_parent
    from kashi.lifeline import start as start_lifeline
    from kashi.migrate import upgrade
    from kashi.servers import resolve

    lock = DataDirLock(settings.data_dir)
    previous = lock.acquire()  # AlreadyRunning propagates: nothing started
    lifeline_fd = None
    servers = None
    children: dict[str, subprocess.Popen] = {}
    stopping = failed = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for line in clean_stale(previous, lock.data_dir):  # first: an orphaned API may hold the port
            err.print(f"[yellow]note:[/] {line}")
        check_port_free(options.host, options.port)
        embedded = not (settings.database_url and settings.redis_url)
        url = f"http://{_client_host(options.host)}:{options.port}"
        instance = Instance(
            pid=os.getpid(), url=url, instance_id=new_instance_id(), started_at=now_text(), embedded=embedded
        )
        lock.write_state(instance)
        lifeline_fd, _ = start_lifeline(lock.data_dir, lock.fd)
        servers = resolve(settings, start=True)
        if embedded and servers.embedded is None:  # found running (e.g. after `kashi migrate`): ours now
            servers.embedded = EmbeddedServers(settings.data_dir)
        engine = make_engine(servers.database_url)
        upgrade(engine)
        engine.dispose()
        env = {
            **os.environ,
            "KASHI_DATABASE_URL": servers.database_url,
            "KASHI_REDIS_URL": servers.redis_url,
            "KASHI_DATA_DIR": str(lock.data_dir),
            "KASHI_INSTANCE_ID": instance.instance_id,
        }
        me = [sys.executable, "-m", "kashi.cli"]
        api = ["api", "--host", options.host, "--port", str(options.port)]
        if options.api_processes > 1:
            roles = [(f"api-{n + 1}", [*api, "--reuse-port"]) for n in range(options.api_processes)]
        else:
            roles = [("api", api)]
        roles += [(f"worker-{n + 1}", ["worker"]) for n in range(options.workers)]
        if options.scheduler:
            roles.append(("scheduler", ["scheduler"]))
        for role, args in roles:
            children[role] = subprocess.Popen([*me, *args], env=env, preexec_fn=die_with_parent())
            instance = replace(instance, children={**instance.children, role: children[role].pid})
            lock.write_state(instance)
        healthy = False
        started = time.monotonic()
        while not stopping:
            if any(c.poll() is not None for c in children.values()):
                failed = True
                err.print("[red]error:[/] a Kashi process exited; stopping (see the lines above)")
                break
            if not healthy:
                answer = health(url)
                if answer and answer.get("instance") == instance.instance_id and answer["http_status"] == 200:
                    healthy = True
                    err.print(
                        f"[green]Kashi is up[/] on {url} (pid {os.getpid()}, data dir {lock.data_dir}, "
                        f"{time.monotonic() - started:.1f} s); Ctrl-C or 'kashi down' stops it"
                    )
                    err.print(f"Console: {url}/console (sign in with a key from 'kashi keys create')")
            time.sleep(0.2)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(timeout=40)
            except subprocess.TimeoutExpired:
                child.kill()
        if servers is not None and servers.embedded is not None:
            for line in stop_servers(lock.data_dir):
                err.print(f"[yellow]note:[/] {line}")
        lock.release()  # removes the state file first: the lifeline sees a clean stop
        if lifeline_fd is not None:
            os.close(lifeline_fd)
        if servers is not None:
            err.print("Kashi stopped")
    if failed:
        raise UpFailed("a Kashi process exited")


def status(data_dir: Path) -> dict:
    """What runs for ``data_dir``: ``{"running", "data_dir", "pid", "url", "instance_id", "children",
    "servers", "health"}``."""
    data_dir = Path(data_dir).expanduser().resolve()
    instance = running(data_dir)
    pg_pid, valkey_pid = server_pids(data_dir)
    servers = {
        "postgresql": {"pid": pg_pid, "port": _read_int(data_dir / "pg.port") if pg_pid else None},
        "valkey": {"pid": valkey_pid, "port": _read_int(data_dir / "valkey" / "port") if valkey_pid else None},
    }
    report: dict = {"running": instance is not None, "data_dir": str(data_dir), "servers": servers}
    if instance is None:
        return report
    answer = health(instance.url, timeout_s=3) if instance.url else None
    if answer is None:
        verdict = "no answer"
    elif answer.get("instance") != instance.instance_id:
        verdict = f"another process answers on {instance.url}"
    else:
        verdict = answer.get("status", "unknown")
    report |= {
        "kind": instance.kind,
        "pid": instance.pid,
        "url": instance.url,
        "instance_id": instance.instance_id,
        "started_at": instance.started_at,
        "children": {role: {"pid": pid, "alive": pid_alive(pid)} for role, pid in instance.children.items()},
        "health": verdict,
        "checks": (answer or {}).get("checks", {}),
    }
    return report


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def print_status(report: dict, out: Console) -> None:
    servers = report["servers"]
    described = [f"{name} pid {s['pid']} port {s['port']}" for name, s in servers.items() if s["pid"]]
    if not report["running"]:
        out.print(f"no Kashi instance runs on data dir {report['data_dir']}")
        if described:
            out.print(f"  embedded servers still run: {'; '.join(described)} ('kashi down' stops them)")
        return
    out.print(f"Kashi runs on data dir {report['data_dir']}")
    out.print(
        f"  kashi {report['kind']} pid {report['pid']} since {report['started_at']} "
        f"(instance {report['instance_id'][:12]})"
    )
    out.print(
        f"  URL {report['url']}  health: {report['health']}"
        + (f" ({', '.join(f'{k} {v}' for k, v in report['checks'].items())})" if report["checks"] else "")
    )
    for role, child in report["children"].items():
        out.print(f"  {role}: pid {child['pid']} {'running' if child['alive'] else 'exited'}")
    out.print(f"  servers: {'; '.join(described) or 'external (KASHI_DATABASE_URL, KASHI_REDIS_URL) or none'}")


def down(data_dir: Path, *, timeout_s: float, out: Console) -> bool:
    """Stop the instance of ``data_dir`` (SIGTERM, then wait for its lock), or, with none running, stop
    what a crashed one left. True when nothing of it runs any more."""
    from kashi.instance import AlreadyRunning

    data_dir = Path(data_dir).expanduser().resolve()
    instance = running(data_dir)
    if instance is not None and instance.pid:
        out.print(f"stopping kashi {instance.kind} pid {instance.pid} ({instance.url})…")
        os.kill(instance.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while running(data_dir) is not None:
            if time.monotonic() > deadline:
                out.print(f"[red]error:[/] pid {instance.pid} still runs after {timeout_s:.0f} s")
                return False
            time.sleep(0.2)
        out.print("Kashi stopped")
        if not any(server_pids(data_dir)):
            return True
        # E.g. a `kashi demo`, which has no lifeline, stopped by the signal before it stopped its servers.
    lock = DataDirLock(data_dir)
    try:
        previous = lock.acquire(wait_s=timeout_s)
    except AlreadyRunning as exc:
        out.print(f"[red]error:[/] {exc}")
        return False
    try:
        done = clean_stale(previous, data_dir)
    finally:
        lock.release()
    if instance is None or not instance.pid:
        out.print(f"no Kashi instance ran on data dir {data_dir}" + (f"; {'; '.join(done)}" if done else ""))
    elif done:
        out.print("; ".join(done))
    return True
