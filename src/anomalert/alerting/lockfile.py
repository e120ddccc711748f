"""One service per state file: an exclusive ``flock`` on ``PATH.lock`` beside it, holding
the pid of the process that has it. The OS drops it when the process ends, however it ends."""

from __future__ import annotations

import os

__all__ = ["lock_file"]


def lock_file(path: str, error: type[Exception] = OSError) -> int:
    """Lock ``path + ".lock"`` for this process (the file says its pid); the open fd.
    Raises ``error`` when another process holds it or it cannot be created."""
    import fcntl

    name = path + ".lock"
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise error(f"{name}: cannot create the lock file: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise error(
            f"{path}: in use by another anomalert (pid {holder}, lock {name}); stop it, or give "
            "this one another state file"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
