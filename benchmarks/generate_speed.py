"""Sampling speed of the image families on this machine, in images per second and in FLOP efficiency.

    python benchmarks/generate_speed.py                         # speed table + diffusion steps-vs-FD table
    python benchmarks/generate_speed.py --skip-fd               # speed only
    python benchmarks/generate_speed.py --diffusion-model digits-diffusion --fd-images 128
    python benchmarks/generate_speed.py --skip-speed --diffusion-model twemoji-faces-diffusion   # steps table only

1. The fp32 matmul peak of this machine, measured here (2048x2048 matmuls, best of 10).
2. For each image family at 32 px colour (default architecture, random weights: speed does not depend on the
   weights): images/s at batch 1 and 64, FLOPs per image (torch.utils.flop_counter.FlopCounterMode; counts
   matmuls and convolutions, 2 FLOPs per multiply-add), and the fraction of the peak the batch-64 rate uses.
   Diffusion is timed with DDIM at 25 steps.
3. For a trained diffusion model: time per image and FD/KID against the real data at 10, 25 and 50 steps
   (DDIM, DPM-Solver++, ancestral DDPM), against ancestral DDPM at 1000 steps (the training schedule).
Results: stdout and benchmarks/results/generate_speed.md (+ .json).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

import torch
from torch.utils.flop_counter import FlopCounterMode

from studio.families import FAMILIES
from studio.families.base import LoadedModel

RESULTS = REPO / "benchmarks" / "results"


def matmul_peak(n: int = 2048, reps: int = 10) -> float:
    """Best fp32 matmul rate in FLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def fresh_model(family_name: str, size: int = 32, channels: int = 3) -> LoadedModel:
    family = FAMILIES[family_name]
    config = family.default_config(size, channels)
    module = family.build(config).eval()
    extras = {}
    if family_name == "diffusion":
        from studio.families.diffusion import training_scheduler
        extras["scheduler_config"] = dict(training_scheduler(config).config)
    return LoadedModel(name=f"fresh-{family_name}", family=family, meta={"config": config}, module=module,
                       device=torch.device("cpu"), extras=extras)


def images_per_second(loaded: LoadedModel, settings: dict, batch: int, min_seconds: float = 3.0) -> float:
    family = loaded.family
    family.sample(loaded, list(range(batch)), settings)  # warm-up
    done, t0 = 0, time.perf_counter()
    while True:
        family.sample(loaded, list(range(done, done + batch)), settings)
        done += batch
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return done / elapsed


def flops_per_image(loaded: LoadedModel, settings: dict, batch: int = 2) -> float:
    latents = loaded.family.latents(loaded, list(range(batch)))
    with FlopCounterMode(display=False) as counter:
        loaded.family.decode(loaded, latents, settings)
    return counter.get_total_flops() / batch


def speed_table(peak: float) -> list[dict]:
    rows = []
    for name, settings in (("gan", {}), ("vae", {}), ("diffusion", {"sampler": "ddim", "steps": 25})):
        if name not in FAMILIES:
            continue
        loaded = fresh_model(name)
        checked = loaded.family.check_settings(settings)
        flops = flops_per_image(loaded, checked)
        rate1 = images_per_second(loaded, checked, 1)
        rate64 = images_per_second(loaded, checked, 64)
        row = {"family": name, "settings": checked, "params_M": round(sum(p.numel() for p in loaded.module.parameters()) / 1e6, 3),
               "images_per_s_batch1": round(rate1, 2), "images_per_s_batch64": round(rate64, 2),
               "gflop_per_image": round(flops / 1e9, 4),
               "fraction_of_peak_batch64": round(flops * rate64 / peak, 3)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def steps_table(model: str, count: int, ddpm_steps: int) -> list[dict]:
    from benchmarks.quality import real_images
    from studio.core.registry import default_registry
    from studio.vision.metrics import (
        PooledFeatures,
        features_of,
        frechet_and_kid,
        real_splits,
    )

    loaded = default_registry().load(model, torch.device("cpu"))
    family = loaded.family
    first, half = real_splits(real_images(loaded.meta))
    feature = PooledFeatures()
    real_features = features_of(half[:count], feature)
    # The floor: the same metrics between two real sets of the same size (FD is biased upward at small counts).
    floor = frechet_and_kid(features_of(first[:count], feature), real_features)
    rows = [{"model": model, "sampler": "real images (floor)", "steps": 0, "images": min(count, half.shape[0]),
             "seconds_per_image": 0,
             "fd": round(floor["fd"], 2), "kid": round(floor["kid"], 4)}]
    print(json.dumps(rows[0]), flush=True)
    latents = family.latents(loaded, list(range(count)))
    runs = ([("ddim", s) for s in (10, 25, 50)] + [("dpm++", s) for s in (10, 25, 50)]
            + [("ddpm", s) for s in (10, 25, 50)] + [("ddpm", ddpm_steps)])
    for sampler, steps in runs:
        t0 = time.perf_counter()
        images = torch.cat([family.decode(loaded, chunk, family.check_settings({"sampler": sampler, "steps": steps}))
                            for chunk in latents.split(64)])
        seconds = time.perf_counter() - t0
        scores = frechet_and_kid(features_of(images, feature), real_features)
        row = {"model": model, "sampler": sampler, "steps": steps, "images": count,
               "seconds_per_image": round(seconds / count, 4), "fd": round(scores["fd"], 2),
               "kid": round(scores["kid"], 4)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--diffusion-model", default="digits-diffusion")
    parser.add_argument("--fd-images", type=int, default=128)
    parser.add_argument("--ddpm-steps", type=int, default=1000)
    parser.add_argument("--skip-fd", action="store_true")
    parser.add_argument("--skip-speed", action="store_true", help="only the steps-vs-FD table")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    peak = matmul_peak()
    print(f"fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s on {torch.get_num_threads()} threads", flush=True)
    speed = [] if args.skip_speed else speed_table(peak)
    steps = [] if args.skip_fd else steps_table(args.diffusion_model, args.fd_images, args.ddpm_steps)

    command = "python benchmarks/generate_speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"# Sampling speed ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Command: `{command.strip()}`; machine: {os.cpu_count()} CPU cores "
             f"({platform.processor() or platform.machine()}), load average {os.getloadavg()[0]:.1f} at the end."]
    if speed:
        lines += ["", f"fp32 matmul peak measured: {peak / 1e9:.1f} GFLOP/s ({torch.get_num_threads()} threads). "
                  "Families at 32 px colour, default architecture.", "",
                  "| family | params (M) | img/s batch 1 | img/s batch 64 | GFLOP/image | fraction of peak (b64) |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['family']} | {r['params_M']} | {r['images_per_s_batch1']} | {r['images_per_s_batch64']} | "
                  f"{r['gflop_per_image']} | {r['fraction_of_peak_batch64']} |" for r in speed]
    if steps:
        lines += ["", f"Diffusion steps against quality ({steps[0]['model']}, {steps[1]['images']} generated images "
                  f"against {steps[0]['images']} real ones, a half of its data set; FD/KID on EfficientNet-Lite0 "
                  "features; the floor row compares the other real half):", "",
                  "| sampler | steps | s/image | FD | KID |", "|---|---|---|---|---|"]
        lines += [f"| {r['sampler']} | {r['steps']} | {r['seconds_per_image']} | {r['fd']} | {r['kid']} |"
                  for r in steps]
        reference = max((r for r in steps if r["sampler"] == "ddpm"), key=lambda r: r["steps"])
        for r in steps:
            if r["steps"] == 25:
                lines.append(f"\n{r['sampler']} at 25 steps: FD {r['fd']} = {r['fd'] / reference['fd']:.2f} x the "
                             f"{reference['steps']}-step DDPM FD ({reference['fd']}); target: at most 1.10 x.")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    # The speed table and each model's steps table are kept in their own files, so one run adds to the other.
    stem = "generate_speed" if speed else f"diffusion_steps-{args.diffusion_model}"
    (RESULTS / f"{stem}.md").write_text(table + "\n", encoding="utf-8")
    (RESULTS / f"{stem}.json").write_text(json.dumps({"peak_flops": peak, "speed": speed, "steps": steps},
                                                     indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
