"""Pretrain, then fine-tune: fine-tuning a base diffusion model against training from scratch, at equal CPU time,
on a category the base never saw; and a quick 30-step LoRA fine-tune through the real app's /train.

    python benchmarks/finetune.py compare --base colour-base-diffusion [--minutes 5 20] [--parallel 3]
    python benchmarks/finetune.py quick --base colour-base-diffusion [--images 24 --steps 30]

`--base` is a diffusion model's name (shipped, or in $STUDIO_HOME) or its folder; each run works in a fresh
temporary STUDIO_HOME, into which a base that is not shipped is copied under its folder's name.

`compare`. Data: Twemoji's Food & Drink (131 images, kept out of the base's training set by
`python data/colour-base/prepare.py`), split by it into the artist's images (food-train, 65) and test images
(food-test, 66). Three methods, each made by the training service exactly as /train makes it, then trained in one
process per method until each budget of CPU time (the process's own CPU time, so other work on a shared
machine does not count against it):
    lora     a LoRA adapter on the base (family diffusion-lora, its default recipe and rank 8)
    full     every weight of the base (adapter "full", the full fine-tune recipe)
    scratch  the base's architecture from random weights (the diffusion family's default recipe)
At each budget the EMA weights are saved as a model and sample 130 images (seeds 0-129, the default DDIM 25
steps); FD and KID (EfficientNet-Lite0 pooled features, `studio.vision.metrics`) against the test images are
averaged over the two halves of 65 samples, and the floor is the same metrics between the artist's 65 images
and the test images. Also reported: steps, training images per CPU second, and the model's size on disk.

`quick`: starts the real app in this process, uploads `--images` of the held-out images as a zip through
gradio_client and runs a `--steps`-step LoRA fine-tune with /train, timing it from the request to the saved
model; then compares the export's size with the base's and the samples with the base's (same seeds).

Results: benchmarks/results/finetune.md and finetune.json (compare; `report --home <its folder>` writes them
for the budgets finished so far, of a run still going or stopped), finetune-quick.md and .json (quick),
sample grids finetune-<method>-<minutes>min.png.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
FOOD = REPO / "data" / "colour-base" / "raw"
METHODS = ("lora", "full", "scratch")
SAMPLES = 130


def machine() -> str:
    import torch
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, " \
           f"{torch.get_num_threads()} thread(s), torch {torch.__version__}"


def held_out_split():
    """(the artist's image paths (food-train), the test images (food-test) as float (N, 3, 64, 64) in [0, 1])."""
    from studio.data.images import images_from_files

    train, test = FOOD / "food-train", FOOD / "food-test"
    if not train.is_dir() or not test.is_dir():
        sys.exit(f"{train} or {test} is missing: run python data/colour-base/prepare.py")
    artist = sorted(train.glob("*.png"))
    return artist, images_from_files([test], 64, 3).images.float() / 255


def stage_base(base: str, home: Path) -> str:
    """The base's name in the fresh STUDIO_HOME `home`: a shipped model as it is; a model of the current
    STUDIO_HOME, or a model folder given by its path, copied into `home`'s models under its folder's name."""
    import shutil

    from studio.core.registry import default_registry

    folder = Path(base).expanduser()
    if folder.is_dir() and (folder / "studio.json").is_file():
        source, name = folder.resolve(), folder.resolve().name
    else:
        record = default_registry().get(base)  # a StudioError naming the models there are if none is called so
        if record.shipped:
            return record.name
        source, name = record.path, record.name
    family = json.loads((source / "studio.json").read_text())["family"]
    if family != "diffusion":
        sys.exit(f"{base} is a {family} model; the benchmark fine-tunes a diffusion model")
    shutil.copytree(source, home / "models" / name)  # whole, samples too: quick compares exports' sizes
    return name


def base_folder(name: str, home: Path) -> Path:
    from studio.core.registry import Registry

    return Registry(models_dir=home / "models").get(name).path


def start_job(method: str, base: str, files: list[Path], name: str):
    from studio.core import jobs
    from studio.services.training import start_training

    options = {"lora": dict(base_model=base, adapter="lora"), "full": dict(base_model=base, adapter="full"),
               "scratch": dict(image_size=64, color=True)}[method]
    config = None
    if method == "scratch":  # the base's architecture, from random weights
        from studio.core.registry import default_registry
        config = {k: v for k, v in default_registry().get(base).meta["config"].items()
                  if k not in ("image_size", "channels", "fine_tuned_from", "base_weights")}
    out = start_training("diffusion", name, files=files, steps=1_000_000, config=config, start=False,
                         command=f"python benchmarks/finetune.py compare --base {base}", **options)
    return jobs.job_dir(out["job"])


def run_method(method: str, base: str, minutes: list[float], out_json: Path) -> None:
    """One method through every budget, in this process; writes its rows to `out_json`."""
    import torch
    from accelerate import Accelerator
    from safetensors.torch import load_file

    from studio.core.media import grid, save_png
    from studio.families import get_family
    from studio.services.models import load_model, save_model
    from studio.vision.metrics import PooledFeatures, features_of, frechet_and_kid

    torch.set_num_threads(1)
    artist, test = held_out_split()
    feature = PooledFeatures()
    test_features = features_of(test, feature)
    job = start_job(method, base, artist, f"bench-{method}")
    spec = json.loads((job / "spec.json").read_text())
    family = get_family(spec["family"])
    torch.manual_seed(0)
    trainer = family.trainer(spec["config"], spec["recipe"], Accelerator(cpu=True), job_dir=job)
    loader = family.loader(load_file(str(job / "data.safetensors")), spec["recipe"], 0)

    def batches():
        while True:
            yield from loader

    stream = batches()
    rows, step, images, cpu = [], 0, 0, 0.0
    for budget in sorted(minutes):
        while cpu < budget * 60:
            c0 = time.process_time()
            batch = next(stream)
            trainer.train_step(batch, step)
            cpu += time.process_time() - c0
            step += 1
            images += batch.shape[0]
        name = f"bench-{method}-{budget:g}min"
        meta = {"config": spec["config"], "shapes": spec["shapes"], "recipe": spec["recipe"],
                "dataset": spec["dataset"], "metrics": {}, "training": {"steps": step, "cpu_seconds": round(cpu)}}
        record = save_model(name, spec["family"], trainer.export(), meta)
        weights = sum(p.stat().st_size for p in record.path.rglob("*.safetensors"))
        loaded = load_model(name)
        settings = loaded.family.check_settings({})
        with torch.no_grad():
            samples = torch.cat([loaded.family.sample(loaded, list(range(s, min(s + 26, SAMPLES))), settings)
                                 for s in range(0, SAMPLES, 26)])
        save_png(grid(samples[:64], nrow=8), RESULTS / f"finetune-{method}-{budget:g}min.png",
                 {"model": name, "seeds": "0-63", "benchmark": "finetune"})
        gen = features_of(samples, feature)
        halves = [frechet_and_kid(gen[i * 65:(i + 1) * 65], test_features) for i in range(2)]
        rows.append({"method": method, "minutes": budget, "steps": step,
                     "images_per_cpu_second": round(images / cpu, 2),
                     "fd": round(sum(h["fd"] for h in halves) / 2, 1),
                     "kid": round(sum(h["kid"] for h in halves) / 2, 4),
                     "kid_std": round(sum(h["kid_std"] for h in halves) / 2, 4),
                     "weights_bytes": weights, "settings": settings})
        print(json.dumps(rows[-1]), flush=True)
        out_json.write_text(json.dumps(rows, indent=1), encoding="utf-8")


def floor() -> dict:
    from studio.data.images import images_from_files
    from studio.vision.metrics import frechet_and_kid

    artist, test = held_out_split()
    real = images_from_files(artist, 64, 3).images.float() / 255
    return frechet_and_kid(real, test)


def compare(args) -> int:
    home = Path(tempfile.mkdtemp(prefix="finetune-bench-"))
    print(f"working in {home} (python benchmarks/finetune.py report --home {home} writes the table of the "
          "budgets finished so far)", flush=True)
    base_name = stage_base(args.base, home)
    base = base_folder(base_name, home)
    base_meta = json.loads((base / "studio.json").read_text())
    run = {"base": base_name, "base_steps": base_meta.get("training", {}).get("steps"),
           "base_bytes": sum(p.stat().st_size for p in (base / "unet").glob("*.safetensors")),
           "methods": args.methods, "minutes": args.minutes, "argv": sys.argv[2:], "started": time.time(),
           "load_at_start": os.getloadavg()[0]}
    (home / "run.json").write_text(json.dumps(run), encoding="utf-8")
    env = {**os.environ, "STUDIO_HOME": str(home), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(REPO)}
    running = []
    for method in args.methods:
        command = [sys.executable, __file__, "method", method, "--base", base_name, "--minutes",
                   *map(str, args.minutes), "--out", str(home / f"{method}.json")]
        while len([p for p in running if p.poll() is None]) >= args.parallel:
            time.sleep(5)
        running.append(subprocess.Popen(command, env=env, cwd=REPO))
    codes = [p.wait() for p in running]
    if any(codes):
        print(f"a method failed: exit codes {codes}", file=sys.stderr)
        return 1
    return report(home)


def report(home: Path) -> int:
    """The table of a compare run's working folder: every budget each method has finished (a run stopped
    before its last budget still reports the ones before)."""
    run = json.loads((home / "run.json").read_text())
    rows = [r for m in run["methods"] if (home / f"{m}.json").is_file()
            for r in json.loads((home / f"{m}.json").read_text())]
    missing = [f"{m} at {b:g} min" for m in run["methods"] for b in run["minutes"]
               if not any(r["method"] == m and r["minutes"] == b for r in rows)]
    real = floor()
    base_bytes = run["base_bytes"]
    lines = [
        "# Fine-tuning a base against training from scratch, at equal CPU time",
        "",
        f"Machine: {machine()}; {len(run['methods'])} methods run side by side, one process and one thread each, "
        "each stopped by its own CPU time (so other work on the machine does not count against it; load average "
        f"{run['load_at_start']:.1f} at the start, {os.getloadavg()[0]:.1f} at the end). Data: Twemoji Food & "
        "Drink, a category kept out of the base; 65 images train, 66 test.",
        f"Base: `{run['base']}` ({run['base_steps']} steps), UNet weights {base_bytes / 1e6:.2f} MB.",
        f"Command: `python benchmarks/finetune.py compare {' '.join(run['argv'])}` "
        f"({(time.time() - run['started']) / 60:.0f} min wall).",
        "",
        "FD and KID: 130 samples (seeds 0-129, DDIM 25 steps) against the 66 test images, averaged over two halves "
        "of 65 samples; EfficientNet-Lite0 pooled features. Floor: the same metrics between the 65 training "
        f"images and the 66 test images: **FD {real['fd']:.1f}, KID {real['kid']:.4f}**.",
        "",
        "| method | CPU minutes | steps | images / CPU s | FD | FD / floor | KID | weights on disk | of the base |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["minutes"], METHODS.index(r["method"]))):
        lines.append(f"| {r['method']} | {r['minutes']:g} | {r['steps']} | {r['images_per_cpu_second']} | {r['fd']} | "
                     f"{r['fd'] / real['fd']:.2f} | {r['kid']} ± {r['kid_std']} | {r['weights_bytes'] / 1e6:.2f} MB | "
                     f"{r['weights_bytes'] / base_bytes:.1%} |")
    if missing:
        lines += ["", f"Not finished when this table was written: {', '.join(missing)}."]
    lines += ["", "Sample grids: `finetune-<method>-<minutes>min.png` beside this file."]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "finetune.md").write_text(text, encoding="utf-8")
    (RESULTS / "finetune.json").write_text(json.dumps({"rows": rows, "floor": real, "machine": machine(),
                                                       "run": run, "missing": missing}, indent=1))
    return 0


def quick(args) -> int:
    """A LoRA fine-tune through the real app's /train, timed from the request to the saved model."""
    import numpy as np
    from gradio_client import Client, handle_file
    from PIL import Image

    home = Path(tempfile.mkdtemp(prefix="finetune-quick-"))
    base_name = stage_base(args.base, home)  # read from the current STUDIO_HOME, before it changes
    os.environ.update(STUDIO_HOME=str(home), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    from studio.core.registry import default_registry
    from studio.ui.app import build_demo, launch_options

    artist, _ = held_out_split()
    import zipfile
    archive = home / "mine.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in artist[:args.images]:
            zf.write(p, p.name)
    base = default_registry().get(base_name)
    size, channels = base.meta["shapes"]["image_size"], base.meta["shapes"]["channels"]
    demo = build_demo()
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options())
    try:
        client = Client(demo.local_url, verbose=False)
        t0 = time.time()
        job, report, status = client.predict(family="diffusion", name="quick-lora", files=[handle_file(str(archive))],
                                             image_size=size, color=channels == 3, base_model=base_name,
                                             adapter="lora", steps=args.steps, batch_size=min(16, args.images),
                                             api_name="/train")
        while status["state"] not in ("completed", "failed", "cancelled"):
            time.sleep(2)
            status = client.predict(job=job, api_name="/job_status")[0]
        seconds = time.time() - t0
        if status["state"] != "completed":
            print(status, file=sys.stderr)
            return 1
        adapter_zip = Path(client.predict(name="quick-lora", api_name="/model_export"))
        base_zip = Path(client.predict(name=base_name, api_name="/model_export"))
        settings = dict(count=8, seed=0, api_name="/generate")
        mine = client.predict(model="quick-lora", **settings)[0]
        theirs = client.predict(model=base_name, **settings)[0]
        pixels = [np.asarray(Image.open(item["image"])).astype(float) for item in mine + theirs]
        difference = float(np.mean([np.abs(a - b).mean() for a, b in zip(pixels[:8], pixels[8:])]))
        registry = default_registry()
        row = {"images": args.images, "steps": args.steps, "seconds": round(seconds, 1),
               "train_seconds": status.get("elapsed"), "adapter_zip_bytes": adapter_zip.stat().st_size,
               "base_zip_bytes": base_zip.stat().st_size,
               "adapter_weights_bytes": sum(p.stat().st_size for p in registry.get("quick-lora").path.rglob(
                   "*.safetensors")),
               "base_weights_bytes": sum(p.stat().st_size for p in base.path.rglob("*.safetensors")),
               "mean_abs_pixel_difference_to_base": round(difference, 1)}
    finally:
        demo.close()
    lines = ["# A quick LoRA fine-tune through /train", "",
             f"Machine: {machine()}, shared with other work. Base `{base_name}`; {args.images} held-out images "
             f"(Twemoji Food & Drink); {args.steps} steps, batch {min(16, args.images)}, rank 8. Command: "
             f"`python benchmarks/finetune.py quick {' '.join(sys.argv[2:])}`.", "",
             "| request to saved model | of which training | adapter zip (weights) | base zip (weights) | share "
             "of zip (of weights) | samples vs base (mean abs difference, 0-255, seeds 0-7) |",
             "|---|---|---|---|---|---|",
             f"| {row['seconds']} s | {row['train_seconds']} s | {row['adapter_zip_bytes'] / 1e3:.0f} kB "
             f"({row['adapter_weights_bytes'] / 1e3:.0f} kB) | {row['base_zip_bytes'] / 1e3:.0f} kB "
             f"({row['base_weights_bytes'] / 1e3:.0f} kB) | {row['adapter_zip_bytes'] / row['base_zip_bytes']:.1%} "
             f"({row['adapter_weights_bytes'] / row['base_weights_bytes']:.1%}) | "
             f"{row['mean_abs_pixel_difference_to_base']} |",
             "", "Both zips hold their model's card and 64 sample images (a PNG grid of a few hundred kB)."]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "finetune-quick.md").write_text(text, encoding="utf-8")
    (RESULTS / "finetune-quick.json").write_text(json.dumps({**row, "machine": machine()}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="LoRA, full fine-tune and from scratch at equal CPU time")
    c.add_argument("--base", default="colour-base-diffusion")
    c.add_argument("--minutes", type=float, nargs="+", default=[5, 20], help="CPU-time budgets, minutes")
    c.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    c.add_argument("--parallel", type=int, default=3, help="methods trained at once (one process each)")
    m = sub.add_parser("method", help="(internal) one method through every budget")
    m.add_argument("method", choices=METHODS)
    m.add_argument("--base", required=True)
    m.add_argument("--minutes", type=float, nargs="+", required=True)
    m.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("report", help="the table of a compare run's working folder, finished or not")
    r.add_argument("--home", type=Path, required=True, help="the folder compare printed at its start")
    q = sub.add_parser("quick", help="a LoRA fine-tune through the real app's /train, timed")
    q.add_argument("--base", default="colour-base-diffusion")
    q.add_argument("--images", type=int, default=24)
    q.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.command == "method":
        run_method(args.method, args.base, args.minutes, args.out)
        return 0
    if args.command == "report":
        return report(args.home)
    return compare(args) if args.command == "compare" else quick(args)


if __name__ == "__main__":
    sys.exit(main())
