"""Shared helpers for the image-family tests: offline environment, a temporary studio home, and a real
training run through the shared loop (`studio.train.run`) on the built-in digits set."""
from __future__ import annotations

import os

for _key, _value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                     "GRADIO_ANALYTICS_ENABLED": "False"}.items():
    os.environ.setdefault(_key, _value)

from pathlib import Path  # noqa: E402

from studio import jobs  # noqa: E402


def train_in_process(family: str, name: str, *, steps: int, image_size: int = 32, color: bool = False,
                     recipe: dict | None = None, config: dict | None = None, files=None,
                     builtin: str | None = "digits") -> Path:
    """Prepare a job with the train service and run the shared training loop in this process.
    Returns the job folder; the model is saved in the registry under `name`."""
    from studio.services.train import start_image_training
    from studio.train import run

    out = start_image_training(family, name, files=files, builtin=None if files else builtin,
                               image_size=image_size, color=color, steps=steps, recipe=recipe, config=config,
                               start=False, command=f"test {family}")
    folder = jobs.job_dir(out["job"])
    state = run(folder)
    assert state == "completed", (folder / "status.json").read_text()
    return folder
