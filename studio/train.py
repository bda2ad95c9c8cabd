"""The training worker: runs one job folder to the end, or until cancelled.

    python -m studio.train <job dir> [--resume]
    accelerate launch -m studio.train <job dir> [--resume]     # several GPUs or machines

The loop is the same for every family: data, progress, fixed-seed previews, checkpoints, cancel and the
final save belong here; what differs between families (networks, losses, optimisers) is the family's
`Trainer`. Hugging Face Accelerate places models and batches on devices, runs mixed precision on CUDA and
spreads the work over processes when launched with `accelerate launch`; only the main process writes.

Jobs are made by the training service (`studio.services.training.start_training`): from the Train tab,
`/train`, or the command line, `python -m studio train ...` (see `python -m studio --help`).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_model

PREVIEW_SEEDS = list(range(16))


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"CPU {cpu}, {os.cpu_count()} cores, torch {torch.__version__}"


class JobFiles:
    """Reads and writes one job folder; only the main process writes."""

    def __init__(self, folder: Path, writer: bool):
        from .core.jobs import read_status

        self.folder, self.writer = folder, writer
        self.spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
        self.status = read_status(folder)

    def update(self, **fields) -> None:
        from .core.jobs import write_json_atomic
        self.status.update(fields, updated=time.time())
        if self.writer:
            write_json_atomic(self.folder / "status.json", self.status)

    def cancel_requested(self) -> bool:
        return (self.folder / "cancel").exists()

    def log_losses(self, row: dict) -> None:
        if self.writer:
            with open(self.folder / "losses.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    def trim_losses(self, step: int) -> None:
        """On resume from the checkpoint at `step`, forget rows logged after it, and any torn line a kill
        mid-write left (the log is rewritten whole, then swapped in)."""
        from .core.jobs import read_jsonl

        path = self.folder / "losses.jsonl"
        if self.writer and path.is_file():
            rows = [r for r in read_jsonl(path) if isinstance(r.get("step"), int) and r["step"] <= step]
            tmp = path.with_name(".losses.jsonl.tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            os.replace(tmp, path)


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's list of names, to the disk (folders cannot be opened on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(folder: Path, trainer, step: int, elapsed: float, before_swap=None) -> None:
    """Save a checkpoint so that a complete one is on disk at every instant, whenever the process dies.

    The new checkpoint is written whole into `checkpoint.tmp/` (state.json last) and flushed to the disk;
    then the previous `checkpoint/` becomes `checkpoint.old/` (the older one is removed first) and the new
    one is renamed in. Each rename is atomic; killed between the two, `checkpoint.old/` is whole and resume
    falls back to it (`load_checkpoint`). `before_swap()`, for tests, runs between writing and renaming."""
    from .core.jobs import write_json_atomic
    tmp = folder / "checkpoint.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name, module in trainer.modules().items():
        # save_model drops the duplicates of tied weights (GPT-2 shares its embedding with its output layer).
        save_model(trainer.accelerator.unwrap_model(module), str(tmp / f"{name}.safetensors"))
    for name, opt in trainer.optimizers().items():
        # Optimiser state is nested Python data; torch.save here, torch.load(weights_only=True) on resume.
        torch.save(opt.state_dict(), tmp / f"{name}.optim")
    write_json_atomic(tmp / "state.json", {"step": step, "elapsed": elapsed})
    for path in tmp.iterdir():
        _fsync(path)
    _fsync(tmp)
    if before_swap is not None:
        before_swap()
    current, old = folder / "checkpoint", folder / "checkpoint.old"
    if current.is_dir():
        shutil.rmtree(old, ignore_errors=True)
        os.rename(current, old)
    os.rename(tmp, current)
    _fsync(folder)


def load_checkpoint(folder: Path, trainer) -> tuple[int, float]:
    """Load the newest complete checkpoint, falling back to the previous one when the newest is missing or
    does not load (a damaged file), and say so in the log; returns (step, elapsed seconds)."""
    from .core.jobs import checkpoints

    problems = []
    for ckpt in checkpoints(folder):
        try:
            state = json.loads((ckpt / "state.json").read_text(encoding="utf-8"))
            for name, module in trainer.modules().items():
                load_model(trainer.accelerator.unwrap_model(module), str(ckpt / f"{name}.safetensors"))
            for name, opt in trainer.optimizers().items():
                opt.load_state_dict(torch.load(ckpt / f"{name}.optim", weights_only=True, map_location="cpu"))
            if ckpt.name != "checkpoint":
                print(f"resumed from the previous checkpoint ({ckpt.name}, step {state['step']})", flush=True)
            return int(state["step"]), float(state.get("elapsed", 0.0))
        except Exception as exc:  # a damaged file in this checkpoint: try the previous one
            problems.append(f"{ckpt.name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            print(f"{ckpt.name} does not load ({problems[-1]}); trying the previous one", flush=True)
    from .core.errors import StudioError
    raise StudioError("no checkpoint of this job loads" + (f" ({'; '.join(problems)})" if problems else "")
                      + "; start a new job instead")


def start_from_model(trainer, base: dict) -> list[str]:
    """Load the weights of the model the job continues (`spec["start_from"]`: its name and folder) into the
    trainer's networks, through `Trainer.start_from`."""
    from .core.errors import StudioError

    files = sorted(Path(base["path"]).rglob("*.safetensors"))
    if not files:
        raise StudioError(f"the model to start from, {base['model']!r}, has no weights at {base['path']}")
    weights = {}
    for path in files:
        weights.update(load_file(str(path)))
    return trainer.start_from(weights)


def run(folder: Path, resume: bool = False) -> str:
    """Train the job in `folder`; returns the final state ("completed", "cancelled" or "failed")."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from .core.devices import mixed_precision, pick_device
    from .core.media import grid, save_png
    from .core.registry import Registry
    from .families import get_family
    from .services.models import save_model

    device = pick_device()
    accelerator = Accelerator(mixed_precision=mixed_precision(device), cpu=device.type == "cpu")
    job = JobFiles(folder, writer=accelerator.is_main_process)
    spec = job.spec
    family = get_family(spec["family"])
    recipe, config, total = spec["recipe"], spec["config"], int(spec["recipe"]["steps"])
    job.update(state="preparing", message="loading data and building the model", pid=os.getpid(),
               steps=total, model=spec["model_name"])

    # Python, NumPy and torch (every device) seeded with seed + this process's index, so each process of a
    # multi-process run draws its own batches.
    set_seed(int(recipe["seed"]), device_specific=True)
    data = load_file(str(folder / "data.safetensors"))
    trainer = family.trainer(config, recipe, accelerator, job_dir=folder)
    from .core.jobs import checkpoints

    start_step, elapsed_before = 0, 0.0
    if resume and checkpoints(folder):
        start_step, elapsed_before = load_checkpoint(folder, trainer)
        job.trim_losses(start_step)
    elif spec.get("start_from"):
        took = start_from_model(trainer, spec["start_from"])
        print(f"starting from the weights of {spec['start_from']['model']!r} ({', '.join(took)})", flush=True)
    loader = accelerator.prepare(family.loader(data, recipe, int(recipe["seed"]) + start_step))

    def batches():
        while True:
            yield from loader

    stream = batches()
    log_every = max(1, min(50, total // 100 or 1))
    sample_every = int(recipe.get("sample_every") or max(50, total // 20))
    checkpoint_every = int(recipe.get("checkpoint_every") or max(100, total // 10))

    def write_preview(step: int) -> None:
        if accelerator.is_main_process:
            sample = trainer.preview(PREVIEW_SEEDS)
            if isinstance(sample, str):
                (folder / "sample.txt").write_text(sample, encoding="utf-8")
            else:
                save_png(grid(sample), folder / "sample.png", {"model": spec["model_name"], "job": spec["job"],
                                                             "step": step, "seeds": PREVIEW_SEEDS, "preview": True})

    stop = {"signal": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(signal=True))
    job.update(state="running", message=f"training from step {start_step}", step=start_step)
    t0 = time.perf_counter()
    window_t, window_items, steps_in_window = t0, 0, 0
    step = start_step
    while step < total:
        if job.cancel_requested() or stop["signal"]:
            accelerator.set_trigger()
        if accelerator.check_trigger():  # every process stops at the same step
            elapsed = elapsed_before + time.perf_counter() - t0
            if accelerator.is_main_process:
                save_checkpoint(folder, trainer, step, elapsed)
                write_preview(step)
            job.update(state="cancelled", step=step, message=f"cancelled at step {step}; resume continues from here")
            return "cancelled"
        batch = next(stream)
        losses = trainer.train_step(batch, step)
        step += 1
        steps_in_window += 1
        window_items += trainer.items_in(batch) * accelerator.num_processes
        if step % log_every == 0 or step == total:
            now = time.perf_counter()
            speed = window_items / max(now - window_t, 1e-9)
            steps_per_s = steps_in_window / max(now - window_t, 1e-9)
            window_t, window_items, steps_in_window = now, 0, 0
            job.log_losses({"step": step, **{k: round(v, 6) for k, v in losses.items()}})
            if accelerator.is_main_process:
                shown = " ".join(f"{k} {v:.4g}" for k, v in losses.items())
                print(f"step {step}/{total}  {shown}  {speed:.0f} {trainer.unit}/s  "
                      f"ETA {(total - step) / max(steps_per_s, 1e-9):.0f} s", flush=True)
            job.update(step=step, speed=round(speed, 1), speed_unit=f"{trainer.unit}/s",
                       eta_seconds=round((total - step) / max(steps_per_s, 1e-9)),
                       elapsed=round(elapsed_before + now - t0, 1), losses=losses,
                       message=f"step {step} of {total}")
        if step % sample_every == 0 or step == 1:
            write_preview(step)
        if step % checkpoint_every == 0 and step < total and accelerator.is_main_process:
            save_checkpoint(folder, trainer, step, elapsed_before + time.perf_counter() - t0)

    elapsed = elapsed_before + time.perf_counter() - t0
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_checkpoint(folder, trainer, step, elapsed)
        write_preview(step)
        job.update(state="running", message="saving the model")
        model = trainer.export()
        samples = trainer.preview(list(range(64)))

        def write_samples(d: Path) -> None:
            if isinstance(samples, str):
                (d / "samples.txt").write_text(samples, encoding="utf-8")
            else:
                save_png(grid(samples, nrow=8), d / "samples.png", {"model": spec["model_name"], "seeds": "0-63"})

        meta = {"config": config, "shapes": spec.get("shapes", {}), "recipe": recipe, "dataset": spec["dataset"],
                "metrics": trainer.final_metrics(),
                "training": {"steps": step, "seconds": round(elapsed, 1),
                             "machine": machine_description(),
                             "processes": accelerator.num_processes,
                             "mixed_precision": accelerator.mixed_precision,
                             "command": spec.get("command", ""), "job": spec["job"],
                             **({"start_from": spec["start_from"]["model"]} if spec.get("start_from") else {}),
                             **spec.get("training_notes", {})}}
        if spec.get("preprocessing"):
            meta["preprocessing"] = spec["preprocessing"]
        registry = Registry(models_dir=Path(spec["models_dir"]))
        try:
            save_model(spec["model_name"], spec["family"], model, meta, write_extras=write_samples, registry=registry)
        except Exception as exc:
            job.update(state="failed", message=f"training finished but saving failed: {exc}; "
                                               "the checkpoint is kept; resume to try saving again")
            return "failed"
        job.update(state="completed", step=step, eta_seconds=0, message=f"saved as model {spec['model_name']!r}")
    return "completed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job_dir", type=Path, help="a job folder made by the app or by `python -m studio train`")
    parser.add_argument("--resume", action="store_true", help="continue from the job's last checkpoint")
    args = parser.parse_args(argv)
    folder = args.job_dir.resolve()
    if not (folder / "spec.json").is_file():
        parser.error(f"{folder} is not a job folder (no spec.json)")
    try:
        state = run(folder, resume=args.resume)
    except Exception as exc:
        traceback.print_exc()
        job = JobFiles(folder, writer=True)
        from .core.errors import StudioError
        why = str(exc) if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"
        job.update(state="failed", message=f"training failed: {why}")
        return 1
    return 0 if state in ("completed", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
