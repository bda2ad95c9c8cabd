"""Interpolation speed and how faithfully each family takes in an artist's own images.

    python benchmarks/interpolate_speed.py [--families vae,gan,diffusion] [--train-steps 600]
                                           [--encode-images 16] [--projection-steps 200] [--inversion-steps 50]

1. Frames per second: 64 frames along a slerp path between two seeds, decoded in batches of 16, at 32 and
   64 px, per family (untrained networks of the family's default architecture: speed does not depend on
   the weights; diffusion at its default DDIM steps). Also the time to write those 64 frames as PNGs, a GIF
   and an MP4 at 256 px.
2. Encoding: each family is trained for --train-steps on the first 1,500 scikit-learn digits (32 px grey,
   with the family's own trainer), then the last 297 digits, which it never saw, are encoded (VAE encoder,
   GAN projection, DDIM inversion) and decoded back. Reported: seconds per image and the reconstruction's
   offline perceptual distance (studio.vision.perceptual; 0 = identical) and pixel RMSE in [0, 1] units.

Families missing from this checkout are listed as such. Results: benchmarks/results/interpolate_speed.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


from studio.core.devices import pick_device
from studio.core.seeds import seed_everything
from studio.data.images import builtin_images
from studio.families import FAMILIES
from studio.families.base import LoadedModel
from studio.latent.paths import decode_in_batches, keyframe_path
from studio.services.interpolate import encode_keyframes

RESULTS = ROOT / "benchmarks" / "results"
TRAIN_COUNT = 1500


def loaded_from(family, module, config, device) -> LoadedModel:
    """A LoadedModel around a network built or trained here, shaped as the registry's load gives it."""
    meta = {"name": f"bench-{family.name}", "config": config,
            "shapes": {"image_size": config.get("image_size", 32), "channels": config.get("channels", 1)}}
    extras = {}
    if family.name == "diffusion":
        # Diffusion models are a UNet plus the noise schedule (a trainer exports both as a DDPMPipeline).
        from diffusers import DDPMScheduler

        if hasattr(module, "unet"):
            module, scheduler = module.unet, module.scheduler
        else:
            scheduler = DDPMScheduler(num_train_timesteps=config["num_train_timesteps"],
                                      beta_schedule=config["beta_schedule"], clip_sample=True)
        extras["scheduler_config"] = dict(scheduler.config)
    return LoadedModel(meta["name"], family, meta, module.to(device).eval(), device, "bench", extras)


def speed(family, size: int, device) -> dict:
    config = family.default_config(size, 3)
    loaded = loaded_from(family, family.build(config), config, device)
    settings = family.check_settings({})
    keys = family.latents(loaded, [11, 42])
    path, _ = keyframe_path(keys, 63, "slerp")  # 64 frames
    decode_in_batches(lambda z: family.decode(loaded, z, settings), path[:2], 2)  # warm-up
    start = time.perf_counter()
    images = decode_in_batches(lambda z: family.decode(loaded, z, settings), path, 16)
    seconds = time.perf_counter() - start
    return {"family": family.name, "size": size, "frames": int(images.shape[0]), "seconds": round(seconds, 2),
            "frames_per_s": round(images.shape[0] / seconds, 1),
            "settings": {k: v for k, v in settings.items()}}, images


def write_time(images: torch.Tensor) -> float:
    """Seconds to write 64 frames as PNGs + GIF + MP4 at 256 px (the service's own writers)."""
    import numpy as np

    from studio.core.media import save_png
    from studio.services.interpolate import _upscale, _write_gif, _write_mp4

    out = Path(tempfile.mkdtemp(prefix="bench-write-"))
    start = time.perf_counter()
    pixels = []
    for i, image in enumerate(images):
        pil = _upscale(image, 256, "nearest")
        save_png(pil, out / f"f{i:03d}.png", {"frame": i})
        pixels.append(np.asarray(pil.convert("RGB")))
    _write_gif(pixels, out / "a.gif", 12, "{}")
    _write_mp4(pixels, out / "a.mp4", 12, "{}")
    return time.perf_counter() - start


def train(family, data: torch.Tensor, steps: int, device):
    """Train with the family's own trainer and loader (as studio.train does), on the CPU or GPU."""
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=device.type == "cpu")
    config = family.default_config(32, 1)
    recipe = {**family.default_recipe(), "steps": steps, "seed": 0}
    seed_everything(0)
    trainer = family.trainer(config, recipe, accelerator, Path(tempfile.mkdtemp(prefix="bench-job-")))
    loader = family.loader({"data": data}, recipe, 0)
    step = 0
    while step < steps:
        for batch in loader:
            trainer.train_step(batch.to(accelerator.device), step)
            step += 1
            if step >= steps:
                break
    return loaded_from(family, trainer.export(), config, device)


def encoding(family, steps: int, held_out: torch.Tensor, train_data: torch.Tensor, args, device) -> dict:
    start = time.perf_counter()
    loaded = train(family, train_data, steps, device)
    train_seconds = time.perf_counter() - start
    settings = family.check_settings({"steps": args.inversion_steps} if family.name == "diffusion" else {})
    start = time.perf_counter()
    encoded = encode_keyframes(loaded, held_out, settings, projection_steps=args.projection_steps)
    seconds = time.perf_counter() - start
    rmse = (encoded.reconstructions - held_out).pow(2).mean(dim=(1, 2, 3)).sqrt()
    return {"family": family.name, "method": encoded.method, "train_steps": steps,
            "train_seconds": round(train_seconds, 1), "images": int(held_out.shape[0]),
            "seconds_per_image": round(seconds / held_out.shape[0], 3),
            "perceptual_distance": round(sum(encoded.distances) / len(encoded.distances), 4),
            "pixel_rmse": round(rmse.mean().item(), 4),
            "detail": (f"{args.projection_steps} projection steps" if family.name == "gan" else
                       f"{args.inversion_steps} DDIM steps" if family.name == "diffusion" else "one encoder pass")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default="vae,gan,diffusion")
    parser.add_argument("--train-steps", type=int, default=600)
    parser.add_argument("--encode-images", type=int, default=16, help="held-out digits to encode per family")
    parser.add_argument("--projection-steps", type=int, default=200)
    parser.add_argument("--inversion-steps", type=int, default=50)
    parser.add_argument("--skip-encoding", action="store_true")
    args = parser.parse_args()
    device = pick_device()
    wanted = [f.strip() for f in args.families.split(",") if f.strip()]
    missing = [f for f in wanted if f not in FAMILIES]
    families = [FAMILIES[f] for f in wanted if f in FAMILIES]

    speeds, write_seconds = [], None
    for family in families:
        for size in (32, 64):
            row, images = speed(family, size, device)
            speeds.append(row)
            print(f"{family.name:10s} {size:3d} px: {row['frames_per_s']:8.1f} frames/s", flush=True)
            if write_seconds is None and size == 64:
                write_seconds = round(write_time(images), 2)

    encodings = []
    if not args.skip_encoding:
        digits = builtin_images("digits", 32, 1).images
        train_data, held_out = digits[:TRAIN_COUNT], digits[TRAIN_COUNT:TRAIN_COUNT + args.encode_images]
        for family in families:
            row = encoding(family, args.train_steps, held_out.float() / 255, train_data, args, device)
            encodings.append(row)
            print(f"{family.name:10s} {row['method']}: {row['seconds_per_image']} s/image, "
                  f"perceptual {row['perceptual_distance']}, rmse {row['pixel_rmse']}", flush=True)

    # Shared machines swing several-fold: record how busy this one was (1-minute load average at the end).
    machine = (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, {device}, "
               f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    report = {"machine": machine, "torch": torch.__version__, "missing_families": missing, "speed": speeds,
              "write_64_frames_png_gif_mp4_256px_seconds": write_seconds, "encoding": encodings,
              "args": vars(args)}
    lines = ["# Interpolation speed and encoding fidelity", "",
             f"Machine: {machine}. Command: `python benchmarks/interpolate_speed.py "
             + " ".join(sys.argv[1:]) + "`", "",
             "| family | size | frames | seconds | frames/s |", "|---|---|---|---|---|"]
    lines += [f"| {r['family']} | {r['size']} | {r['frames']} | {r['seconds']} | {r['frames_per_s']} |" for r in speeds]
    lines += ["", f"Writing 64 frames as PNG + GIF + MP4 at 256 px: {write_seconds} s", ""]
    if encodings:
        lines += ["Held-out images: scikit-learn digits 1500+ (never trained on), 32 px grey; models trained "
                  f"{args.train_steps} steps on digits 0-1499.", "",
                  "| family | method | detail | s/image | perceptual distance | pixel RMSE |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['family']} | {r['method']} | {r['detail']} | {r['seconds_per_image']} | "
                  f"{r['perceptual_distance']} | {r['pixel_rmse']} |" for r in encodings]
    if missing:
        lines += ["", f"Not in this checkout (not measured): {', '.join(missing)}."]
    lines.append("")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "interpolate_speed.md").write_text("\n".join(lines), encoding="utf-8")
    (RESULTS / "interpolate_speed.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
