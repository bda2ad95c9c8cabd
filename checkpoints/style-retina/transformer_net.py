"""A per-style feed-forward network (Johnson et al., 2016): one style, any photo, one forward pass.

Part of the creative studio; this file stands alone (torch and huggingface_hub only), so a model folder
that holds it, `config.json` and `model.safetensors` loads anywhere:

    import sys; sys.path.insert(0, folder)
    from transformer_net import TransformerNet
    net = TransformerNet.from_pretrained(folder)     # a local folder or a Hub repository id
    out = net(photo)    # photo: (N, 3, H, W) in [0, 1], H and W multiples of 4 -> the same shape, stylised

The shape of pytorch/examples `fast_neural_style/transformer_net.py` (reflection-padded convolutions,
instance normalisation, residual blocks, nearest upsampling + convolution instead of transposed
convolutions, which avoids checkerboard artefacts), with its width and depth as settings.
"""
from __future__ import annotations

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


class ConvLayer(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(channels, channels, 3), nn.InstanceNorm2d(channels, affine=True), nn.ReLU(inplace=True),
            ConvLayer(channels, channels, 3), nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpsampleConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), ConvLayer(c_in, c_out, kernel))


class TransformerNet(nn.Module, PyTorchModelHubMixin, pipeline_tag="image-to-image",
                     tags=["creative-studio", "style-transfer"]):
    """Image (N, 3, H, W) in [0, 1] -> stylised image of the same size in [0, 1]. H and W: multiples of 4."""

    MULTIPLE = 4  # two stride-2 convolutions

    def __init__(self, width: int = 16, residual_blocks: int = 3):
        super().__init__()
        w1, w2, w3 = width, 2 * width, 4 * width

        def norm_relu(c):
            return [nn.InstanceNorm2d(c, affine=True), nn.ReLU(inplace=True)]

        self.net = nn.Sequential(
            ConvLayer(3, w1, 9), *norm_relu(w1),
            ConvLayer(w1, w2, 3, stride=2), *norm_relu(w2),
            ConvLayer(w2, w3, 3, stride=2), *norm_relu(w3),
            *[ResidualBlock(w3) for _ in range(residual_blocks)],
            UpsampleConv(w3, w2, 3), *norm_relu(w2),
            UpsampleConv(w2, w1, 3), *norm_relu(w1),
            ConvLayer(w1, 3, 9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The network sees [-1, 1]; a sigmoid keeps the output a valid image without clamping gradients away.
        return torch.sigmoid(self.net(x * 2 - 1))
