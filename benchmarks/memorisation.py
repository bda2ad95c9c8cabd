"""Memorisation of every shipped image model: the share of 256 samples that are near copies of a training image.

    python benchmarks/memorisation.py                       # all shipped image models in checkpoints/
    python benchmarks/memorisation.py --models digits-vae --samples 256 --record

For each model, `--samples` images (seeds 0..n-1, the model's default sampling settings) go through the
originality check (studio/services/originality.py): each is compared with every training image, perceptually
(EfficientNet-Lite0, LPIPS-style, at 64 px) and in pixels, and counts as a near copy when it is closer to a
training image than 99% of real training images, each held out in turn, are to the rest. The table goes to
stdout and benchmarks/results/memorisation.md (+ .json); `--record` writes the figures into each model's
studio.json "metrics" (the memorisation* keys, beside quality.py's) and re-renders its model card.

The Twemoji models need their images: python data/twemoji/prepare.py --subset faces
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"


def record_figures(record, figures: dict) -> None:
    from studio.services.modelcard import write_model_card

    meta_path = record.path / "studio.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    metrics = {k: v for k, v in meta.get("metrics", {}).items() if not k.startswith("memorisation")}
    meta["metrics"] = {**metrics, **figures,
                       "memorisation_measured_with": "python benchmarks/memorisation.py (the originality check)"}
    meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    write_model_card(record.path, meta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", help="model names (default: every shipped image model)")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--record", action="store_true", help="write the figures into studio.json and the card")
    args = parser.parse_args()
    os.environ.setdefault("STUDIO_HOME", str(REPO / ".studio-home"))  # the embeddings cache lives there

    from studio.core.registry import default_registry
    from studio.services.originality import memorisation

    records = [r for r in default_registry().list(kind="image")
               if r.shipped and (not args.models or r.name in args.models)]
    rows = []
    for record in records:
        t0 = time.perf_counter()
        figures = memorisation(record.name, args.samples)
        rows.append({"model": record.name, "family": record.family, **figures,
                     "seconds": round(time.perf_counter() - t0, 1)})
        print(json.dumps(rows[-1]), flush=True)
        if args.record:
            record_figures(record, {k: v for k, v in figures.items() if k != "memorisation_seeds"})

    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    lines = [f"# Memorisation: share of {args.samples} samples that are near copies of a training image", "",
             f"Machine: {machine}. Command: `python benchmarks/memorisation.py"
             f"{' --record' if args.record else ''}`.", "",
             "| model | family | near copies | share | perceptual threshold | median nearest distance | "
             "pixel threshold | seconds |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['family']} | "
                     f"{r['memorisation_near_copies']} / {r['memorisation_samples']} | "
                     f"{r['memorisation']:.1%} | {r['memorisation_threshold']} | {r['memorisation_median_distance']} | "
                     f"{r['memorisation_pixel_threshold']} | {r['seconds']} |")
    lines += ["", "A sample is a near copy when its nearest training image is closer (perceptually, or in RMS pixel "
              "difference) than the 1st percentile of the nearest distances from held-out real training images to "
              "the rest; the median shows how far typical samples are, in the same units as the threshold."]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "memorisation.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (RESULTS / "memorisation.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
