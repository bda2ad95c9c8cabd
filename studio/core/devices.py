"""Where tensors live and in which precision.

CUDA, then Apple MPS, then CPU; `STUDIO_DEVICE` overrides. CPU always runs in fp32: on CPUs without native
half-precision units (the machines we measured) fp16 matmul is about 100x slower than fp32 and bf16 about 3x.
"""
from __future__ import annotations

import contextlib

import torch

from .environment import environment
from .errors import StudioError


def pick_device(requested: str | None = None) -> torch.device:
    """The device to run on: `requested`, else `STUDIO_DEVICE`, else the best available."""
    name = (requested or environment().device or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise StudioError(f"STUDIO_DEVICE={name!r} is not a device name; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise StudioError("STUDIO_DEVICE asks for CUDA, but no CUDA GPU is available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise StudioError("STUDIO_DEVICE asks for MPS, but Apple MPS is not available")
    return device


def mixed_precision(device: torch.device) -> str:
    """The `accelerate` mixed-precision mode for training on `device`: bf16/fp16 on CUDA, none elsewhere."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def inference_autocast(device: torch.device):
    """Autocast for sampling: reduced precision on CUDA only; a no-op context on CPU and MPS."""
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()
