"""What the studio tidies when it starts: half-written model saves and imports (`models/.incoming`), job
folders half prepared or half deleted, and request outputs past their age or the size cap.

Each is left by a process that died mid-work (a kill, a crash, a restart); live work in another process (a
training worker saving its model while the app restarts) is recognised and kept (`studio.core.leftovers`).
"""
from __future__ import annotations

import logging

from ..core import jobs
from ..core.outputs import sweep_outputs
from ..core.registry import default_registry

log = logging.getLogger("studio")


def clean_at_startup() -> dict:
    """Remove what dead processes left; returns what was removed, and logs it in one line."""
    incoming = default_registry().clean_incoming()
    job_leftovers = jobs.clean_leftovers()
    outputs = sweep_outputs()
    report = {"incoming": len(incoming), "jobs": len(job_leftovers), "outputs": outputs["removed"]}
    if any(report.values()):
        log.info("start-up clean-up removed %d unfinished model save(s) or import(s), %d unfinished job "
                 "folder(s) and %d old output folder(s)", *report.values())
    return report
