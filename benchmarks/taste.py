"""The feedback loop, measured: does fine-tuning on favourites move a model toward what its rater likes?

    python benchmarks/taste.py                                   # digits-diffusion, a rater who loves zeros
    python benchmarks/taste.py --models digits-diffusion digits-vae --digit 0 --steps 300 --mix 0.5

A scripted rater stands in for the artist: it gives each image round(5 x p) stars, p being the probability
the digits classifier (studio/vision/metrics.py, ~98% accurate on held-out digits) gives its favourite digit,
and marks the images it gives 4 or 5 stars as favourites. The loop is the studio's own, through its services:
generate `--rate` images (seeds 0..) into the gallery, rate them, fine-tune on the favourites
(services/favourites.py: continued training from the model's weights, favourites mixed with the training
digits at `--mix`), then generate 256 *new* images (seeds 10000..) from the model before and after and have
the rater score both. Also reported: the share of the favourite digit, the share of images the classifier
recognises confidently and how many classes still appear (so a rise in taste is not bought with collapse).
Results: stdout and benchmarks/results/taste.md (+ .json).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
EVAL_SEEDS = list(range(10_000, 10_256))


def stars_for(images, digit: int) -> list[int]:
    """The scripted rater: round(5 x the classifier's probability of `digit`) stars per image."""
    import torch

    from studio.vision.metrics import digits_classifier, to_digit_features

    clf, _ = digits_classifier()
    proba = torch.from_numpy(clf.predict_proba(to_digit_features(images).numpy()))
    return [int(round(5 * float(p))) for p in proba[:, digit]]


def evaluate(model: str, digit: int) -> dict:
    import numpy as np

    from studio.services.generate import sample_images
    from studio.vision.metrics import digit_scores, digits_classifier, to_digit_features

    images, _ = sample_images(model, EVAL_SEEDS, {})
    stars = stars_for(images, digit)
    clf, _ = digits_classifier()
    labels = clf.predict(to_digit_features(images).numpy())
    scores = digit_scores(images)
    return {"mean_rating": round(float(np.mean(stars)), 3), "share_of_digit": round(float(np.mean(labels == digit)), 3),
            "recognised": round(scores["recognised"], 3), "classes_covered": scores["classes_covered"]}


def loop(model: str, digit: int, rate_count: int, steps: int, mix: float) -> dict:
    from studio.core import jobs
    from studio.services.favourites import train_on_favourites
    from studio.services.gallery import rate
    from studio.services.generate import generate
    from studio.train import run

    t0 = time.perf_counter()
    made = generate(model, count=min(64, rate_count), seed=0)
    ids, files = list(made.gallery_ids), list(made.files)
    while len(ids) < rate_count:
        more = generate(model, count=min(64, rate_count - len(ids)), seed=len(ids))
        ids += more.gallery_ids
        files += more.files
    import numpy as np
    import torch
    from PIL import Image

    shown = torch.from_numpy(np.stack([np.asarray(Image.open(f).convert("L")) for f in files]))[:, None].float() / 255
    given = stars_for(shown, digit)
    for item, stars in zip(ids, given):
        rate(item, stars=stars, favourite=stars >= 4)
    favourites = sum(s >= 4 for s in given)
    tuned = f"{model}-taste-{digit}"
    result = train_on_favourites(model, tuned, steps=steps, mix=mix, start=False)
    state = run(jobs.job_dir(result["job"]))
    if state != "completed":
        raise SystemExit(f"fine-tuning {state}: see {jobs.job_dir(result['job']) / 'log.txt'}")
    train_s = time.perf_counter() - t0
    before, after = evaluate(model, digit), evaluate(tuned, digit)
    return {"model": model, "digit": digit, "rated": rate_count, "favourites": favourites,
            "mean_rating_of_rated": round(float(np.mean(given)), 3), "steps": steps, "mix": mix,
            "before": before, "after": after, "loop_seconds": round(train_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=["digits-diffusion"])
    parser.add_argument("--digit", type=int, default=0, help="the rater's favourite digit")
    parser.add_argument("--rate", type=int, default=128, help="images generated and rated before fine-tuning")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--mix", type=float, default=0.5)
    args = parser.parse_args()
    # The loop's gallery, jobs and models live in a scratch home; the shipped models are read from checkpoints/.
    os.environ["STUDIO_HOME"] = tempfile.mkdtemp(prefix="studio-taste-")

    import torch

    rows = [loop(m, args.digit, args.rate, args.steps, args.mix) for m in args.models]
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else \
        f"CPU {platform.machine()}, {os.cpu_count()} cores"
    lines = [f"# Taste: a scripted rater who loves the digit {args.digit}, before and after fine-tuning on its "
             "favourites", "", f"Machine: {device}. Command: `python benchmarks/taste.py --models "
             f"{' '.join(args.models)} --digit {args.digit} --rate {args.rate} --steps {args.steps} --mix {args.mix}`.",
             "", "| model | rated | favourites | steps | mix | mean rating before | after | share of the digit "
             "before | after | recognised before | after | classes before | after | loop s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b, a = r["before"], r["after"]
        lines.append(f"| {r['model']} | {r['rated']} | {r['favourites']} | {r['steps']} | {r['mix']} | "
                     f"{b['mean_rating']} | **{a['mean_rating']}** | {b['share_of_digit']:.1%} | "
                     f"{a['share_of_digit']:.1%} | {b['recognised']:.1%} | {a['recognised']:.1%} | "
                     f"{b['classes_covered']} | {a['classes_covered']} | {r['loop_seconds']} |")
    lines += ["", f"Mean ratings are over 256 new images (seeds {EVAL_SEEDS[0]}-{EVAL_SEEDS[-1]}, never rated), "
              "0-5 stars; 'recognised' is the share the classifier names with probability >= 0.9, 'classes' how "
              "many of the 10 digits hold at least 2% of the images."]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "taste.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (RESULTS / "taste.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
