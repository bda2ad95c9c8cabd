"""Arbitrary style transfer in one forward pass: adaptive instance normalisation (Huang & Belongie, 2017).

The encoder is a pretrained feature network cut at one layer (for EfficientNet-Lite0, the expanded ReLU6
activation of block 5: 240 channels at 1/8 of the image size, the counterpart of VGG's relu4_1). AdaIN
gives the content's features the style's per-channel mean and standard deviation; a decoder, trained here
(`studio/families/adain.py`), turns those features back into an image. `alpha` blends the normalised
features with the content's own, so 0 reconstructs the content and 1 is full style.
"""
from __future__ import annotations

import torch
from torch import nn

from .losses import mean_std


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor,
          content_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Content features (N, C, h, w) re-normalised to the style's per-channel (N or 1, C, 1, 1) mean and std.

    `content_stats` overrides the content's own statistics: tiles of a large image use the whole image's,
    so every tile is normalised the same way and no seams appear between them.
    """
    c_mean, c_std = content_stats if content_stats is not None else mean_std(content)
    return (content - c_mean) / c_std * style_std + style_mean


def blended_style_stats(style_features: list[torch.Tensor], weights: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixing styles: AdaIN is linear in the style's mean and std, so the weighted sum of the outputs for
    each style equals one AdaIN with the weighted mean and std (the paper's style interpolation)."""
    stats = [mean_std(f) for f in style_features]
    mean = sum(w * m for (m, _), w in zip(stats, weights))
    std = sum(w * s for (_, s), w in zip(stats, weights))
    return mean, std


class Decoder(nn.Module):
    """Features (N, in_channels, H/2^k, W/2^k) -> image (N, 3, H, W) in [0, 1], k = len(widths) - 1.

    Mirrors the encoder with nearest upsampling + reflection-padded 3x3 convolutions (as in the AdaIN
    paper's decoder, which avoids the checkerboard artefacts of transposed convolutions) and no
    normalisation layers, since normalisation would undo the statistics AdaIN just set.
    """

    def __init__(self, in_channels: int = 240, widths: tuple[int, ...] = (128, 64, 32, 16)):
        super().__init__()
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


def stylize_features(encoder, layer: str, decoder: Decoder, content: torch.Tensor,
                     style_mean: torch.Tensor, style_std: torch.Tensor, alpha: float,
                     content_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Content image (N, 3, H, W) in [0, 1] (H, W multiples of the decoder's scale) -> stylised image."""
    fc = encoder(content, {layer})[layer]
    t = adain(fc, style_mean, style_std, content_stats)
    t = alpha * t + (1 - alpha) * fc
    return decoder(t)
