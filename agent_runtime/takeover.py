"""Fast local takeover: a lease names the host and process of its worker, so a server that starts on the
same machine takes over at once the tasks of a server process that is gone (`kill -9`, a crash, a
restarted container), instead of waiting until their leases lapse.

A lease owner reads `worker-<12 hex>@<host>:<pid>:<process token>`. The token is drawn once per process,
so a new process that was given the dead one's pid (pid 1 in a restarted container) still tells the
two apart. A lease is taken over only when its host is this host and its process is not running; any
other lease (another machine, a live process, an owner without host and pid) waits for its expiry.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from agent_runtime.store.base import Store, TaskRecord

log = logging.getLogger(__name__)

PROCESS_TOKEN = uuid.uuid4().hex[:8]  # tells this process from an earlier one that had the same pid


def lease_owner() -> str:
    """A new worker's lease owner: unique, and naming this host and process."""
    return f"worker-{uuid.uuid4().hex[:12]}@{socket.gethostname()}:{os.getpid()}:{PROCESS_TOKEN}"


def _where(owner: str) -> tuple[str, int, str] | None:
    """The host, pid and process token an owner names, or None for an owner in another form."""
    _, at, where = owner.rpartition("@")
    host, _, rest = where.partition(":")
    pid, _, token = rest.partition(":")
    if not at or not host or not pid.isascii() or not pid.isdigit() or not token:
        return None
    return host, int(pid), token


def _running(pid: int) -> bool:
    """Whether a process with this pid runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no procfs (macOS) or it just ended
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def gone(owner: str) -> bool:
    """Whether `owner` is a worker of a process on this host that no longer runs."""
    where = _where(owner)
    if where is None:
        return False
    host, pid, token = where
    if host != socket.gethostname():
        return False
    if pid == os.getpid():
        return token != PROCESS_TOKEN  # our pid, an earlier process's token: that process is gone
    return not _running(pid)


async def release_dead_leases(store: Store, tasks: Iterable[TaskRecord]) -> list[str]:
    """Release the live leases of `tasks` whose workers are gone from this host, so they are claimed at
    once; the interrupted attempt still counts. The ids of the tasks released."""
    released = []
    for task in tasks:
        owner = task.lease_owner
        if owner and task.lease_until > time.time() and gone(owner):
            await store.release_lease(task.task_id, owner=owner)  # only if that owner still holds it
            released.append(task.task_id)
    if released:
        log.info("took over tasks of a stopped worker process", extra={"count": len(released)})
    return released
