"""Helpers for the processes the commands start (the demo's nodes; the tests use them too)."""
from __future__ import annotations


def die_with_parent() -> None:
    """``preexec_fn`` for helper processes: Linux sends them SIGTERM when their parent dies, even by SIGKILL,
    so no node outlives a killed demo (and keeps publishing into the next run's ROS domain)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:  # not Linux/glibc: nothing to arm
        pass
