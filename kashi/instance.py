"""One Kashi instance per data directory: the lock, the state file, and cleaning up after a crash.

``kashi up`` (and ``kashi demo``) hold an exclusive ``flock`` on ``<data_dir>/kashi-up.lock`` for
as long as they run; a second one is refused with the running one's pid and URL. Beside the lock,
``<data_dir>/kashi-up.json`` records who holds it: pid, URL, instance id, the pids of its children
(API, workers, scheduler) and whether it runs the embedded servers. It is removed on a clean stop;
found at the next start (the holder was SIGKILLed and its lifeline was killed too), it names the
orphans to stop before anything new starts.

The instance id is a fresh random hex string per ``kashi up``, handed to its API as
``KASHI_INSTANCE_ID`` and answered by ``/healthz``, so ``up`` reports "is up" only when its own API
answers, never an orphan or a stranger on the same port.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = "kashi-up.lock"
STATE_FILE = "kashi-up.json"


@dataclass(frozen=True)
class Instance:
    """What ``<data_dir>/kashi-up.json`` says about the process holding the lock."""

    pid: int
    url: str
    instance_id: str
    started_at: str
    kind: str = "up"
    """``up`` or ``demo``."""
    embedded: bool = True
    """Whether it runs the data dir's embedded PostgreSQL and Valkey (and so stops them)."""
    children: dict[str, int] = field(default_factory=dict)
    """Role (``api``, ``worker-1``, ``scheduler``) → pid."""

    @classmethod
    def from_json(cls, text: str) -> Instance:
        values = json.loads(text)
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


class AlreadyRunning(RuntimeError):
    """Another ``kashi up`` holds the data dir's lock."""

    def __init__(self, data_dir: Path, holder: Instance | None):
        self.holder = holder
        if holder is None:
            message = f"another Kashi process holds the lock {data_dir / LOCK_FILE} (it is starting or stopping)"
        else:
            message = (
                f"Kashi already runs on data dir {data_dir}: kashi {holder.kind} pid {holder.pid}, "
                f"{holder.url}, since {holder.started_at}; 'kashi status' shows it, 'kashi down' stops it"
            )
        super().__init__(message)


class PortTaken(RuntimeError):
    """The API's port is in use before anything was started."""


def new_instance_id() -> str:
    return uuid.uuid4().hex


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`PortTaken` unless ``host:port`` can be bound now (as uvicorn binds it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no obstacle to uvicorn either
        try:
            s.bind((host, port))
        except OSError as exc:
            raise PortTaken(
                f"port {port} on {host} is already in use ({exc.strerror}); nothing was started. "
                f"Choose another with --port, or see what holds it (e.g. 'ss -ltnp sport = :{port}')"
            ) from exc


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is as good as dead for us.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def belongs_to(pid: int, instance_id: str) -> bool:
    """Whether ``pid`` is a child of the instance ``instance_id`` (it carries the id in its environment),
    so a recycled pid is never killed."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"KASHI_INSTANCE_ID={instance_id}".encode() in environ.split(b"\0")


def terminate(pids: list[int], *, timeout_s: float = 40) -> list[int]:
    """SIGTERM each live pid, wait up to ``timeout_s`` for them to exit, SIGKILL the rest; return those
    that had to be killed."""
    live = [pid for pid in pids if pid_alive(pid)]
    for pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(pid_alive(pid) for pid in live):
        time.sleep(0.1)
    killed = [pid for pid in live if pid_alive(pid)]
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return killed


class DataDirLock:
    """The exclusive lock of one data directory and its state file."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.fd: int | None = None

    @property
    def state_path(self) -> Path:
        return self.data_dir / STATE_FILE

    def read_state(self) -> Instance | None:
        try:
            return Instance.from_json(self.state_path.read_text())
        except (OSError, ValueError, TypeError):
            return None

    def _try_lock(self, operation: int) -> int | None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def acquire(self, *, wait_s: float = 60) -> Instance | None:
        """Take the lock or raise :class:`AlreadyRunning`. Returns the state a crashed holder left
        behind (its orphans are for :func:`clean_stale`), or None.

        A live holder is refused at once. A holder whose pid is dead is a lifeline still cleaning up
        after a SIGKILLed ``kashi up``: wait up to ``wait_s`` for it."""
        deadline = time.monotonic() + wait_s
        while True:
            fd = self._try_lock(fcntl.LOCK_EX)
            if fd is not None:
                self.fd = fd
                return self.read_state()
            holder = self.read_state()
            if holder is not None and pid_alive(holder.pid) or time.monotonic() > deadline:
                raise AlreadyRunning(self.data_dir, holder)
            # No state yet (a holder between lock and state, or `kashi status` probing), or a dead holder
            # whose lifeline is still stopping its children: wait.
            time.sleep(0.1)

    def write_state(self, instance: Instance) -> None:
        scratch = self.state_path.with_suffix(".json.tmp")
        scratch.write_text(json.dumps(asdict(instance), indent=2))
        scratch.replace(self.state_path)

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.state_path.unlink()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def running(data_dir: Path) -> Instance | None:
    """The instance holding ``data_dir``'s lock, or None when none does.

    A holder that has not yet written its state (or whose state is unreadable) is reported with pid 0."""
    lock = DataDirLock(data_dir)
    if not (lock.data_dir / LOCK_FILE).exists():
        return None
    fd = lock._try_lock(fcntl.LOCK_SH)
    if fd is not None:
        os.close(fd)
        return None
    return lock.read_state() or Instance(pid=0, url="", instance_id="", started_at="")


def clean_stale(previous: Instance | None, data_dir: Path) -> list[str]:
    """Stop what a crashed holder left running: its children (only processes that carry its instance id)
    and the data dir's embedded servers. Call it holding the lock. Returns what was done, for the log."""
    done = []
    if previous is not None:
        orphans = [pid for pid in previous.children.values() if belongs_to(pid, previous.instance_id)]
        if orphans:
            terminate(orphans, timeout_s=20)
            done.append(f"stopped orphaned Kashi processes {', '.join(map(str, orphans))} of pid {previous.pid}")
    pg_pid, valkey_pid = server_pids(data_dir)
    if pg_pid or valkey_pid:
        done += stop_servers(data_dir)
        what = [f"PostgreSQL pid {pg_pid}" if pg_pid else "", f"Valkey pid {valkey_pid}" if valkey_pid else ""]
        done.append("stopped embedded servers left running: " + ", ".join(w for w in what if w))
    return done


def stop_servers(data_dir: Path) -> list[str]:
    """Stop the data dir's embedded servers (``pg_ctl stop -m fast``, Valkey SIGTERM), then signal
    directly any whose pid file still names a live process (PostgreSQL SIGINT, its fast shutdown;
    Valkey SIGTERM; SIGKILL after 60 s). Returns notes on what needed the direct signal."""
    from kashi.embedded import EmbeddedServers

    EmbeddedServers(data_dir).stop()
    pg_pid, valkey_pid = server_pids(data_dir)
    notes = []
    for name, pid, sig in (("PostgreSQL", pg_pid, signal.SIGINT), ("Valkey", valkey_pid, signal.SIGTERM)):
        if pid is None:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + 60
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        killed = terminate([pid], timeout_s=0) if pid_alive(pid) else []
        notes.append(f"{name} pid {pid} still ran after its stop: {'killed' if killed else 'signalled, it stopped'}")
    return notes


def server_pids(data_dir: Path) -> tuple[int | None, int | None]:
    """The pids of the data dir's live embedded PostgreSQL and Valkey, from their pid files."""
    data_dir = Path(data_dir).expanduser().resolve()
    pids: list[int | None] = []
    for path in (data_dir / "pg" / "postmaster.pid", data_dir / "valkey" / "valkey.pid"):
        try:
            pid = int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pids.append(None)
            continue
        pids.append(pid if pid_alive(pid) else None)
    return pids[0], pids[1]


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
