"""Eight gradio_client clients at once on the real app, each calling a mix of light and heavy endpoints and
requests that must be refused: every call gets its right answer. Bounded in time by pytest-timeout (never
by asserting on speed; `benchmarks/load.py` measures the latencies)."""
from __future__ import annotations

import pytest

from tests.support.load import run_load


@pytest.mark.timeout(900)
def test_eight_concurrent_clients_on_mixed_endpoints_all_succeed(app):
    calls = run_load(app.local_url, clients=8, rounds=1)
    failures = [c for c in calls if not c.ok]
    assert not failures, "\n".join(f"{c.endpoint}: {c.error}" for c in failures)
    assert len(calls) == 8 * 10
    assert {c.endpoint for c in calls} >= {"/generate", "/write", "/interpolate", "/stylize", "/model_export"}
