"""Model families, by registry key. Adding a family is one module and one line below."""
from __future__ import annotations

from ..core.errors import StudioError
from .adain import AdaINFamily
from .base import Family
from .diffusion import DiffusionFamily
from .diffusion_lora import DiffusionLoraFamily
from .gan import GANFamily
from .lora import LoraFamily
from .style import StyleFamily
from .text import TextFamily
from .vae import VAEFamily

FAMILIES: dict[str, Family] = {f.name: f for f in (
    VAEFamily(),
    GANFamily(),
    DiffusionFamily(),
    DiffusionLoraFamily(),
    TextFamily(),
    LoraFamily(),
    StyleFamily(),
    AdaINFamily(),
)}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise StudioError(f"unknown model family {name!r}; this studio knows: {', '.join(FAMILIES)}") from None
