"""Hugging Face ZeroGPU Spaces: the GPU is lent per call, only to functions decorated with `spaces.GPU`.

On such a Space (the platform sets SPACES_ZERO_GPU and installs the `spaces` package) the services that
sample (`generate`, `interpolate`, `stylize`, `write`'s stream) are wrapped in `spaces.GPU`, so each call
gets the GPU for its duration; everywhere else `on_gpu` returns the function unchanged.

Training cannot borrow that GPU: it runs for minutes to hours in a separate worker process, which ZeroGPU
never lends a GPU to. On ZeroGPU a training job therefore trains on the CPU, and a job that asks for CUDA
(STUDIO_DEVICE=cuda) is refused before it starts (`check_training_device`).
"""
from __future__ import annotations

import os
from typing import Callable, TypeVar

from ..core.environment import environment
from ..core.errors import StudioError

F = TypeVar("F", bound=Callable)
GPU_SECONDS = 120  # the longest single call asks for at most this long a loan (ZeroGPU's quota is per call)


def on_zero_gpu() -> bool:
    return os.environ.get("SPACES_ZERO_GPU", "").strip().lower() not in ("", "0", "false")


def on_gpu(fn: F) -> F:
    """`spaces.GPU(fn)` on a ZeroGPU Space with the `spaces` package, else `fn` itself."""
    if not on_zero_gpu():
        return fn
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=GPU_SECONDS)(fn)


def check_training_device() -> str | None:
    """On ZeroGPU: refuse a training job that wants CUDA, else a note that it trains on the CPU."""
    if not on_zero_gpu():
        return None
    if environment().device.startswith("cuda"):
        raise StudioError("this Space runs on ZeroGPU, which lends its GPU only to single calls of a few minutes, "
                          "never to a background training job: set STUDIO_DEVICE=auto to train on the CPU, or "
                          "run the studio on GPU hardware (a GPU Space or your own machine) to train on a GPU")
    return ("ZeroGPU lends its GPU only to single calls, so this job trains on the CPU; for GPU training run the "
            "studio on GPU hardware")
