"""Sample quality of every shipped image model, against real images, with the real-vs-real floor beside it.

    python benchmarks/quality.py                      # all shipped image models in checkpoints/
    python benchmarks/quality.py --models digits-gan --images 256 --record

For each model: FD and KID (EfficientNet-Lite0 pooled features, see studio/metrics.py) between `--images`
samples (seeds 0..n-1, default sampling settings) and one half of the model's training set, and the floor:
the same metrics between the two halves of that set (n images each, so the bias is the same). Digits models
also get the digits classifier's scores (share recognised, classes covered) for samples and for real digits.
The table goes to stdout and benchmarks/results/quality.md (+ .json); `--record` writes the numbers into each
model's studio.json "metrics" and re-renders its model card.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

import torch

from studio.data.images import builtin_images, images_from_files
from studio.vision.metrics import (
    PooledFeatures,
    digit_scores,
    features_of,
    frechet_and_kid,
    real_splits,
)

RESULTS = REPO / "benchmarks" / "results"


# Sets whose model is measured against images it never saw: dataset name -> (training folder, held-out folder),
# both from data/colour-base/prepare.py. The floor is then the training images against the held-out ones.
HELD_OUT = {
    "colour-base": ("data/colour-base/raw/base", "data/colour-base/raw/base-val"),
    "twemoji-food-train": ("data/colour-base/raw/food-train", "data/colour-base/raw/food-test"),
}


def held_out_images(meta: dict) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(training images, held-out images) as float (N, C, H, W) in [0, 1] for the sets in HELD_OUT, else None.
    The training images are a seeded sample of as many as the held-out set has."""
    name = str(meta.get("dataset", {}).get("name", ""))
    if name not in HELD_OUT:
        return None
    shapes = meta["shapes"]
    size, channels = int(shapes["image_size"]), int(shapes["channels"])
    train, test = (REPO / folder for folder in HELD_OUT[name])
    if not train.is_dir() or not test.is_dir():
        sys.exit(f"{train} or {test} is missing: run python data/colour-base/prepare.py")
    test_images = images_from_files([test], size, channels).images.float() / 255.0
    paths = sorted(train.rglob("*.png"))
    order = torch.randperm(len(paths), generator=torch.Generator().manual_seed(0))[:test_images.shape[0]]
    train_images = images_from_files([paths[i] for i in order.tolist()], size, channels).images.float() / 255.0
    return train_images, test_images


def real_images(meta: dict) -> torch.Tensor:
    """The model's training set, prepared at its size and channels, as float (N, C, H, W) in [0, 1]."""
    shapes, dataset = meta["shapes"], meta.get("dataset", {})
    size, channels = int(shapes["image_size"]), int(shapes["channels"])
    name = str(dataset.get("name", ""))
    if name == "digits":
        images = builtin_images("digits", size, channels).images
    elif name.startswith("twemoji-"):
        folder = REPO / "data" / "twemoji" / "raw" / name.removeprefix("twemoji-")
        if not folder.is_dir():
            sys.exit(f"{folder} is missing: run python data/twemoji/prepare.py --subset {name.removeprefix('twemoji-')}")
        images = images_from_files([folder], size, channels).images
    else:
        raise SystemExit(f"no real data known for data set {name!r}")
    return images.float() / 255.0


def sample(name: str, count: int) -> tuple[torch.Tensor, dict]:
    from studio.services.models import load_model

    loaded = load_model(name)
    settings = loaded.family.check_settings({})
    chunks = [loaded.family.sample(loaded, list(range(start, min(start + 64, count))), settings)
              for start in range(0, count, 64)]
    return torch.cat(chunks), settings


def measure(record, count: int, feature: PooledFeatures) -> dict:
    held_out = held_out_images(record.meta)
    # Against held-out images when the set has them (floor: training images vs held-out), else against one
    # half of the training set (floor: the other half).
    half_a, half_b = held_out if held_out is not None else real_splits(real_images(record.meta))
    n = min(count, half_b.shape[0], half_a.shape[0])
    t0 = time.perf_counter()
    generated, settings = sample(record.name, n)
    sample_s = time.perf_counter() - t0
    fb = features_of(half_b[:n], feature)
    model = frechet_and_kid(features_of(generated, feature), fb)
    floor = frechet_and_kid(features_of(half_a[:n], feature), fb)
    row = {"model": record.name, "family": record.family, "data": record.meta["dataset"].get("name"),
           "images": n, "against": "held-out images" if held_out is not None else "half of the training set",
           "settings": settings, "fd": round(model["fd"], 2), "fd_floor": round(floor["fd"], 2),
           "kid": round(model["kid"], 4), "kid_std": round(model["kid_std"], 4), "kid_floor": round(floor["kid"], 4),
           "sampling_seconds": round(sample_s, 1)}
    if record.meta["dataset"].get("name") == "digits":
        ours, real_scores = digit_scores(generated), digit_scores(half_b[:n])
        row.update(recognised=round(ours["recognised"], 3), recognised_real=round(real_scores["recognised"], 3),
                   classes_covered=ours["classes_covered"], class_entropy_bits=round(ours["class_entropy_bits"], 2),
                   classifier_accuracy=round(ours["classifier_accuracy"], 3))
    return row


def record_metrics(record, row: dict) -> None:
    from studio.services.modelcard import write_model_card

    meta_path = record.path / "studio.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    keep = ("images", "against", "fd", "fd_floor", "kid", "kid_std", "kid_floor", "recognised", "recognised_real",
            "classes_covered", "class_entropy_bits")
    kept = {k: v for k, v in meta.get("metrics", {}).items() if k.startswith("memorisation")}  # memorisation.py's
    meta["metrics"] = {**{k: row[k] for k in keep if k in row}, **kept,
                       "features": "EfficientNet-Lite0 pooled (1280), 224 px; floor = the same metrics between "
                                   + ("training and held-out images" if row.get("against") == "held-out images"
                                      else "two halves of the training set"),
                       "sampling": row["settings"], "measured_with": "python benchmarks/quality.py"}
    meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    write_model_card(record.path, meta)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", help="model names (default: every shipped image model)")
    parser.add_argument("--images", type=int, default=256, help="samples per model (capped at half the data set)")
    parser.add_argument("--record", action="store_true", help="write the metrics into each model's studio.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from studio.core.registry import default_registry

    records = default_registry().list(kind="image")
    records = [r for r in records if r.name in args.models] if args.models else [r for r in records if r.shipped]
    feature = PooledFeatures()
    rows = []
    for record in records:
        row = measure(record, args.images, feature)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.record:
            record_metrics(record, row)
    # Keep earlier rows for models not measured this time, so one model can be re-measured alone.
    previous = RESULTS / "quality.json"
    if previous.is_file():
        measured = {r["model"] for r in rows}
        rows = [r for r in json.loads(previous.read_text(encoding="utf-8")) if r["model"] not in measured] + rows
    header = "| model | family | data | n | FD | FD floor | KID | KID floor | recognised (real) | classes |"
    lines = [header, "|" + "---|" * 10]
    for r in rows:
        rec = f"{r['recognised']} ({r['recognised_real']})" if "recognised" in r else ""
        lines.append(f"| {r['model']} | {r['family']} | {r['data']} | {r['images']} | {r['fd']} | {r['fd_floor']} | "
                     f"{r['kid']} ± {r['kid_std']} | {r['kid_floor']} | {rec} | {r.get('classes_covered', '')} |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quality.md").write_text(
        f"# Sample quality ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
        "FD/KID on EfficientNet-Lite0 pooled features at 224 px; floor = the same metric between two real halves "
        "of the training set with the same number of images, or, for sets with held-out images (colour-base, "
        "twemoji-food-train), samples against the held-out images and the floor between training and held-out "
        "images.\n\n" + table + "\n", encoding="utf-8")
    (RESULTS / "quality.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
