"""How long a newcomer waits: from `python app.py` to a usable page, and to the first image.

    python benchmarks/startup.py [--runs 3]

Each run starts `python app.py` twice: with an empty STUDIO_HOME (the first launch: the Style tab's example
images and example result are made then) and again on that same home (every later launch). Each time, in
headless Chromium at 1400x900 (Debian's chromium):
1. "server answers": the first HTTP 200 from the app's address;
2. "usable page": the page has loaded and the Generate tab is ready (its model list filled in, its
   Generate button clickable);
3. "first image": Generate pressed with the form as it opens, and its images shown.
Each time counts from the moment `python app.py` is started. The table gives every run and the median.
Results: benchmarks/results/startup.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(page_factory, home: Path) -> dict:
    port = free_port()
    env = {**os.environ, "STUDIO_HOME": str(home / "home"), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_TEMP_DIR": str(home / "gradio"), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1", "TRANSFORMERS_OFFLINE": "1"}
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None:
                raise RuntimeError("the app exited before it served its page")
            time.sleep(0.05)
        answered = time.perf_counter() - t0
        page = page_factory()
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_function("document.querySelector('#generate-model input')?.value.length > 0",
                               timeout=300_000)
        page.locator("#generate-button").wait_for(state="visible")
        usable = time.perf_counter() - t0
        page.locator("#generate-button").click()
        page.wait_for_function("document.querySelector('#generate-status').innerText.includes('Done')",
                               timeout=300_000)
        page.locator("#generate-gallery img").first.wait_for(state="visible")
        first_image = time.perf_counter() - t0
        model = page.locator("#generate-model input").input_value()
        page.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"server_answers_s": round(answered, 2), "usable_page_s": round(usable, 2),
            "first_image_s": round(first_image, 2), "model": model}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    runs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for i in range(args.runs):
            home = Path(tempfile.mkdtemp(prefix="studio-startup-"))
            try:
                for launch in ("first", "later"):
                    run = {"launch": launch,
                           **one_run(lambda: browser.new_page(viewport={"width": 1400, "height": 900}), home)}
                    runs.append(run)
                    print(f"run {i + 1}, {launch} launch: {run}", flush=True)
            finally:
                shutil.rmtree(home, ignore_errors=True)
        browser.close()

    keys = [("server_answers_s", "server answers"), ("usable_page_s", "usable page"),
            ("first_image_s", "first image")]
    medians = {f"{launch}_{k}": statistics.median(r[k] for r in runs if r["launch"] == launch)
               for launch in ("first", "later") for k, _ in keys}
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    model = runs[0]["model"].split()[0]
    lines = ["# From `python app.py` to a usable page and the first image", "",
             f"Machine: {machine}; load average at the end {load:.1f} (a shared machine: other work ran beside "
             f"this)." if load is not None else f"Machine: {machine}.",
             f"First image: Generate pressed on the form as it opens (model `{model}`, its default settings). "
             f"First launch: an empty STUDIO_HOME; later launch: the same home again.", "",
             "| seconds from `python app.py` | launch | " + " | ".join(f"run {i + 1}" for i in range(args.runs))
             + " | median |", "|---|---|" + "---:|" * (args.runs + 1)]
    for launch in ("first", "later"):
        for key, title in keys:
            values = [r[key] for r in runs if r["launch"] == launch]
            lines.append(f"| {title} | {launch} | " + " | ".join(f"{v:.1f}" for v in values)
                         + f" | {medians[f'{launch}_{key}']:.1f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "startup.md").write_text(table, encoding="utf-8")
    (RESULTS / "startup.json").write_text(json.dumps({"machine": machine, "load_average": load, "runs": runs,
                                                      "medians": medians}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
