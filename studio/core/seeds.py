"""Seeds in one place: their range, a fresh random one, "11, 42, 7" parsing, and seeded generators.

A seed is a whole number in 0..MAX_SEED (what every endpoint, PNG and model card shows); -1 (or empty) in a
request means "draw a fresh one". Noise is drawn on the CPU from a generator seeded per image, so a seed
gives the same latents on every device.
"""
from __future__ import annotations

import math
import random
import re
import secrets

import numpy as np
import torch

from .errors import StudioError

MAX_SEED = 2**31 - 1


def check_seed(seed, name: str = "seed") -> int:
    """`seed` as an int in 0..MAX_SEED, or a StudioError naming the field and the range."""
    try:
        number = float(seed)
    except (TypeError, ValueError):
        raise StudioError(f"{name} must be a whole number between 0 and {MAX_SEED}; got {seed!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise StudioError(f"{name} must be a whole number between 0 and {MAX_SEED}; got {seed!r}")
    if not 0 <= number <= MAX_SEED:
        raise StudioError(f"{name} must be between 0 and {MAX_SEED}; got {int(number)}")
    return int(number)


def resolve_seed(seed, name: str = "seed") -> int:
    """None, "" or any negative number mean a fresh random seed; anything else is checked by `check_seed`."""
    if seed is None or (isinstance(seed, str) and not seed.strip()):
        return secrets.randbelow(MAX_SEED)
    try:
        if float(seed) < 0:
            return secrets.randbelow(MAX_SEED)
    except (TypeError, ValueError):
        pass  # check_seed says what is wrong
    return check_seed(seed, name)


def seed_range(base: int, count: int) -> list[int]:
    """`count` consecutive seeds from `base`, wrapping past MAX_SEED (image i of a batch uses base + i)."""
    return [(base + i) % (MAX_SEED + 1) for i in range(count)]


def parse_seeds(seeds, name: str = "seeds") -> list[int]:
    """"11, 42, 7" (commas and/or spaces) or a list -> [11, 42, 7]; "random" -> two fresh seeds; "" -> []."""
    if seeds is None:
        return []
    if isinstance(seeds, (list, tuple)):
        parts = [str(s) for s in seeds]
    else:
        text = str(seeds).strip()
        if text.lower() == "random":
            return [secrets.randbelow(MAX_SEED) for _ in range(2)]
        parts = [p for p in re.split(r"[,\s]+", text) if p]
    values = []
    for part in parts:
        try:
            value = int(part)
        except ValueError:
            raise StudioError(f"{name} must be whole numbers separated by commas, like '11, 42, 7', or 'random'; "
                              f"{part!r} is not a whole number") from None
        if not 0 <= value <= MAX_SEED:
            raise StudioError(f"each seed must be between 0 and {MAX_SEED}; got {value}")
        values.append(value)
    return values


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) for a repeatable run on the same machine."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator seeded with `seed`. Noise is drawn on the CPU by default, so a seed gives the same
    latents on every device."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g
