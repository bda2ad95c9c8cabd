"""A real training run through the training service and the shared loop (`studio.train.run`), in this
process, on the built-in digits set by default."""
from __future__ import annotations

from pathlib import Path

from studio.core import jobs


def train_in_process(family: str, name: str, *, steps: int, image_size: int = 32, color: bool = False,
                     recipe: dict | None = None, config: dict | None = None, files=None,
                     builtin: str | None = "digits") -> Path:
    """Prepare a job with the train service and run the shared training loop in this process.
    Returns the job folder; the model is saved in the registry under `name`."""
    from studio.services.training import start_training
    from studio.train import run

    out = start_training(family, name, files=files, builtin=None if files else builtin, image_size=image_size,
                         color=color, steps=steps, recipe=recipe, config=config, start=False,
                         command=f"test {family}")
    folder = jobs.job_dir(out["job"])
    state = run(folder)
    assert state == "completed", (folder / "status.json").read_text()
    return folder
