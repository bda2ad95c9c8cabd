"""Load: the studio served from its own process, several gradio_client clients at once on a mix of endpoints.

    python benchmarks/load.py [--clients 8] [--rounds 3] [--hostile]

The server runs with a fresh STUDIO_HOME and the shipped models. Each client runs `--rounds` rounds of the
mix in `tests/support/load.py` (models, model info, generate, reuse parameters, a refused request, jobs,
write, interpolate, AdaIN stylise, export), in a different order per client. Reported per endpoint: calls,
failures, p50 and p95 latency in seconds (queueing included: the compute events share STUDIO_CONCURRENCY=1
slot, so heavy calls wait for each other), and the server's resident memory. The server's memory is read
once started, after one untimed warm-up round (so every model the mix uses is loaded), at its peak during
the run and after it. `--hostile` also imports the issue's hostile archive (the shipped VAE with
latent_dim=40,000) from every client during the run. Results: benchmarks/results/load-<clients>x<rounds>[-hostile].{md,json}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support: the server launcher and the workload the load test uses

from tests.support.files import model_zip  # noqa: E402
from tests.support.load import Call, run_load  # noqa: E402
from tests.support.server import StudioServer  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def hostile_imports(url: str, clients: int, archive: Path) -> list[Call]:
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    calls = []

    def one(i):
        client = Client(url, verbose=False, httpx_kwargs={"timeout": 300})
        t0 = time.perf_counter()
        try:
            client.predict(file=handle_file(archive), name=f"huge-{i}", api_name="/model_import")
            calls.append(Call("/model_import (hostile)", time.perf_counter() - t0, False, "accepted"))
        except AppError as exc:
            ok = "latent_dim" in str(exc)
            calls.append(Call("/model_import (hostile)", time.perf_counter() - t0, ok, "" if ok else str(exc)))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hostile", action="store_true", help="every client also imports the hostile archive")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="studio-load-"))
    with StudioServer(root) as server:
        from gradio_client import Client

        Client(server.url, verbose=False).predict(api_name="/models")  # the server answers
        rss_started = server.rss_mb()
        # One untimed round from one client loads every model the mix uses, so "before" and "after" below
        # compare a warm server with itself: growth there is what the load leaves behind.
        warm = run_load(server.url, clients=1, rounds=1)
        assert all(c.ok for c in warm), [c.error for c in warm if not c.ok]
        rss_before = server.rss_mb()
        peak = [rss_before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], server.rss_mb())
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        calls = []
        hostile_thread = None
        if args.hostile:
            archive = model_zip(ROOT / "checkpoints" / "digits-vae", root / "huge.zip",
                                edit={"studio.json": lambda m: m["config"].update(latent_dim=40_000)})
            hostile_thread = threading.Thread(target=lambda: calls.extend(hostile_imports(server.url, args.clients, archive)))
            hostile_thread.start()
        calls.extend(run_load(server.url, clients=args.clients, rounds=args.rounds))
        if hostile_thread is not None:
            hostile_thread.join()
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        time.sleep(1.0)
        rss_after = server.rss_mb()

    rows = []
    for endpoint in sorted({c.endpoint for c in calls}):
        mine = [c for c in calls if c.endpoint == endpoint]
        seconds = [c.seconds for c in mine]
        rows.append({"endpoint": endpoint, "calls": len(mine), "failures": sum(not c.ok for c in mine),
                     "p50_s": round(percentile(seconds, 50), 3), "p95_s": round(percentile(seconds, 95), 3)})
    failures = [c for c in calls if not c.ok]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f} "
               "at the end (the machine is shared)")
    command = "python benchmarks/load.py " + " ".join(sys.argv[1:])
    lines = ["# Load: concurrent clients on mixed endpoints", "",
             f"Machine: {machine}. Command: `{command.strip()}`", "",
             f"{args.clients} clients x {args.rounds} rounds, {len(calls)} calls in {wall:.0f} s, "
             f"{len(failures)} failures. Latencies include queueing: compute events share one slot "
             "(STUDIO_CONCURRENCY=1).", "",
             "| endpoint | calls | failures | p50 s | p95 s |", "|---|---|---|---|---|"]
    lines += [f"| {r['endpoint']} | {r['calls']} | {r['failures']} | {r['p50_s']} | {r['p95_s']} |" for r in rows]
    lines += ["", f"Server memory (RSS): {rss_started:.0f} MB once started, {rss_before:.0f} MB after a warm-up round "
                  f"(every model of the mix loaded) = before the run, {peak[0]:.0f} MB at the peak during it, "
                  f"{rss_after:.0f} MB after it.", ""]
    if failures:
        lines += ["Failures:", ""] + [f"- {c.endpoint}: {c.error}" for c in failures[:20]] + [""]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"load-{args.clients}x{args.rounds}" + ("-hostile" if args.hostile else "")
    (RESULTS / f"{stem}.md").write_text(text, encoding="utf-8")
    (RESULTS / f"{stem}.json").write_text(json.dumps({
        "machine": machine, "command": command.strip(), "clients": args.clients, "rounds": args.rounds,
        "wall_seconds": round(wall, 1), "rows": rows, "rss_mb": {"started": round(rss_started), "before": round(rss_before), "peak": round(peak[0]),
                                                                  "after": round(rss_after)},
        "failures": [c.__dict__ for c in failures]}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
