"""Children die with ``kashi up``, even when it is SIGKILLed.

Two mechanisms, because the embedded servers are not our children (``pg_ctl`` and Valkey daemonise):

- API, worker and scheduler processes ask the kernel for SIGTERM when their parent dies
  (``PR_SET_PDEATHSIG``, set by :func:`die_with_parent` between fork and exec), so they drain and
  exit at once.
- A lifeline process (``python -m kashi.lifeline``), started by ``kashi up`` in its own session,
  blocks reading a pipe whose only write end ``kashi up`` holds. When ``kashi up`` exits for any
  reason the read returns end-of-file; if the data dir's state file is still there (the exit was not
  clean), the lifeline stops the recorded children (SIGTERM, SIGKILL after 40 s) and then the
  embedded PostgreSQL and Valkey, and removes the state file. It holds a copy of the data dir's
  lock meanwhile, so a new ``kashi up`` waits for the cleanup instead of racing it.

What neither covers (the lifeline SIGKILLed as well, a machine that lost power) is cleaned at the
next start from the state file and the servers' pid files (:func:`kashi.instance.clean_stale`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1
_libc = None
if sys.platform.startswith("linux"):
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child receive SIGTERM when the calling process dies.

    Call it in the parent (it records the parent's pid), from a thread that lives as long as the
    process: the kernel sends the signal when the *thread* that forked the child ends. The child also
    checks that its parent is still that pid: a parent that died between fork and ``prctl`` would
    otherwise be missed."""
    parent = os.getpid()

    def preexec() -> None:
        if _libc is not None:
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def start(data_dir: Path, lock_fd: int) -> tuple[int, subprocess.Popen]:
    """Start the lifeline for ``data_dir``; return the pipe's write end (keep it open, never pass it on)
    and the process."""
    read_end, write_end = os.pipe()  # both ends non-inheritable: no other child holds the write end
    process = subprocess.Popen(
        [sys.executable, "-m", "kashi.lifeline", str(read_end), str(lock_fd), str(data_dir)],
        pass_fds=(read_end, lock_fd),
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )
    os.close(read_end)
    return write_end, process


def watch(read_end: int, data_dir: Path) -> None:
    """Block until the parent's end of the pipe closes, then clean up after it if it did not."""
    from kashi.instance import DataDirLock, belongs_to, stop_servers, terminate

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while os.read(read_end, 4096):
        pass
    lock = DataDirLock(data_dir)
    state = lock.read_state()
    if state is None:  # a clean stop removes the state file first
        return
    print(f"kashi lifeline: kashi {state.kind} pid {state.pid} died; stopping what it started", file=sys.stderr)
    terminate([pid for pid in state.children.values() if belongs_to(pid, state.instance_id)])
    if state.embedded:
        for note in stop_servers(data_dir):
            print(f"kashi lifeline: {note}", file=sys.stderr)
    lock.state_path.unlink(missing_ok=True)


if __name__ == "__main__":
    fd, _lock_fd, directory = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    watch(fd, directory)  # the lock fd stays open until we exit, holding the lock during cleanup
