"""Warm-up work (compiling settings a user is likely to pick next) in a background thread.

The thread runs at low priority (Linux), swallows errors (a warm-up that fails only
loses its head start), and stops cleanly when the interpreter exits: a daemon
thread killed inside an XLA compilation aborts the whole process ("FATAL:
exception not rethrown", exit status 134), so an ``atexit`` hook tells it to stop
after the job it is in and waits for it.
"""

from __future__ import annotations

import atexit
import os
import threading

__all__ = ["run_in_background"]

_STOP = threading.Event()
_THREADS: list[threading.Thread] = []


def _stop_all() -> None:
    _STOP.set()
    for t in _THREADS:
        t.join()


atexit.register(_stop_all)


def run_in_background(jobs, name: str = "ntk-explore-warm-up") -> threading.Thread:
    """Run ``jobs`` (callables) one after another in a low-priority daemon thread."""
    def work():
        try:  # Linux: lower this thread's priority only
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        for job in jobs:
            if _STOP.is_set():
                return
            try:
                job()
            except Exception:  # noqa: BLE001 -- a warm-up failure must not surface
                pass

    t = threading.Thread(target=work, daemon=True, name=name)
    _THREADS[:] = [x for x in _THREADS if x.is_alive()] + [t]
    t.start()
    return t
