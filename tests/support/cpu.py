"""How busy the server is: the CPU time its process uses, measured over a short window.

The tests launch the app inside the pytest process, so "the server" is this process (its sampling threads
included); a browser runs in processes of its own and does not count.
"""
from __future__ import annotations

import time

import psutil


def cpu_use(seconds: float, pid: int | None = None) -> float:
    """CPUs kept busy by the process over the next `seconds` (user + system time / wall time): 1.0 is one
    core fully used. CPU time, not wall time, so a slow shared machine does not change what it says."""
    process = psutil.Process(pid)
    before = process.cpu_times()
    time.sleep(seconds)
    after = process.cpu_times()
    return ((after.user - before.user) + (after.system - before.system)) / seconds
