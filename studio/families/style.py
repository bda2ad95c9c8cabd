"""Per-style feed-forward networks (Johnson et al., 2016): trained once for one style image, then applied to
any photo in one forward pass.

Training (through the shared loop, `python -m studio.train <job dir>`): the job folder holds the content
images (`data.safetensors`, uint8 (N, 3, S, S), S a bit above the training size for random crops) and the
style image (`style.png`). Each step stylises a batch of random content crops and scores the result with a
frozen pretrained network: Gram-matrix style loss against the style image, feature (content) loss against
the crop itself, and total variation. The content loss sits on a shallow layer (block 3's expanded
activations, 1/4 scale), as Johnson et al. use VGG's relu2_2: measured here, the deep block-7 content layer
that suits optimisation left a fresh generator painting only the style (red blobs for a retina photo),
and style weights above about 0.3 did the same; 0.05 lets the content through within 200 steps. The loss network is EfficientNet-Lite0, whose settings were measured
to work (`studio/vision/features.py`), so training runs offline.

The network (`TransformerNet`) has the shape of pytorch/examples `fast_neural_style/transformer_net.py`
(reflection-padded convolutions, instance normalisation, residual blocks, nearest upsampling + convolution
instead of transposed convolutions to avoid checkerboard artefacts), with widths and depth as settings: the
default (16-32-64 channels, 3 residual blocks, about 0.23 M parameters) trains about 6x faster per step than
the original 1.7 M-parameter network, which on 2 CPU cores is the difference between minutes and hours.
Stylising a large photo runs the network over overlapping tiles (`studio.style.tiling`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from ..core.errors import StudioError
from ..style.losses import content_loss, gram, style_loss, tv_loss
from ..style.tiling import OVERLAP, TILE, run_tiled
from ..vision.features import efficientnet_style_network
from .base import Family, LoadedModel, Trainer
from .checks import whole
from .networks.transformer_net import TransformerNet

SIZES = (64, 96, 128, 160, 192, 256)
PREVIEW_CONTENTS = 8


# -- training -----------------------------------------------------------------------------------------------
def load_style_image(path: Path, size: int) -> torch.Tensor:
    """The job's style image as (1, 3, h, w) in [0, 1], its shorter side scaled to `size` px."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        scale = size / min(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.LANCZOS)
        return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)[None].float() / 255


class RandomCrops(torch.utils.data.Dataset):
    """Random `size` crops (with random left-right flips) of uint8 (N, 3, S, S) images, as floats in [0, 1]."""

    def __init__(self, images: torch.Tensor, size: int):
        self.images, self.size = images, size

    def __len__(self):
        return self.images.shape[0]

    def __getitem__(self, i):
        img = self.images[i]
        s = img.shape[-1]
        y, x = torch.randint(0, s - self.size + 1, (2,)).tolist()
        crop = img[:, y:y + self.size, x:x + self.size].float() / 255
        return crop.flip(-1) if torch.rand(()) < 0.5 else crop


class StyleTrainer(Trainer):
    unit = "images"

    def __init__(self, config: dict, recipe: dict, accelerator, job_dir: Path):
        self.config, self.recipe, self.accelerator = config, recipe, accelerator
        self.network = efficientnet_style_network()
        device = accelerator.device
        self.loss_net = self.network.net.to(device)
        style = load_style_image(job_dir / "style.png", int(recipe["style_size"])).to(device)
        with torch.no_grad():
            feats = self.network.features(style)
            self.style_grams = {k: gram(feats[k]) for k in self.network.style_layers}
        net = TransformerNet(**config)
        opt = torch.optim.Adam(net.parameters(), lr=recipe["learning_rate"])
        self.net, self.opt = accelerator.prepare(net, opt)
        from safetensors.torch import load_file
        contents = load_file(str(job_dir / "data.safetensors"))["content"]
        size = int(recipe["image_size"])
        off = (contents.shape[-1] - size) // 2  # previews: fixed centre crops of the first content images
        self.preview_contents = contents[:PREVIEW_CONTENTS, :, off:off + size, off:off + size].float() / 255

    def items_in(self, batch) -> int:
        return batch.shape[0]

    def losses(self, content: torch.Tensor, out: torch.Tensor) -> dict[str, torch.Tensor]:
        net = self.network
        layer = self.recipe.get("content_layer", net.content_layer)  # jobs made before the key existed
        with torch.no_grad():
            target = net.net(content, {layer})[layer]
        feats = net.net(out, set(net.style_layers) | {layer})
        c = content_loss(feats[layer], target)
        s = style_loss(feats, self.style_grams, net.style_layers)
        tv = tv_loss(out)
        r = self.recipe
        total = r["content_weight"] * c + r["style_weight"] * s + r["tv_weight"] * tv
        return {"loss": total, "content": c, "style": s, "tv": tv}

    def train_step(self, batch: torch.Tensor, step: int) -> dict[str, float]:
        self.net.train()
        out = self.net(batch)
        losses = self.losses(batch, out)
        self.opt.zero_grad(set_to_none=True)
        self.accelerator.backward(losses["loss"])
        self.opt.step()
        return {k: v.item() for k, v in losses.items()}

    @torch.no_grad()
    def preview(self, seeds: list[int]) -> torch.Tensor:
        """Content crops and their stylised versions, side by side in pairs (as many as there are seeds,
        up to twice the preview images)."""
        net = self.export().eval()
        n = min(len(self.preview_contents), max(1, len(seeds) // 2))
        content = self.preview_contents[:n]
        out = net(content.to(next(net.parameters()).device)).float().cpu()
        return torch.stack([img for pair in zip(content, out) for img in pair])

    def modules(self):
        return {"transformer": self.net}

    def optimizers(self):
        return {"optimizer": self.opt}

    def export(self) -> TransformerNet:
        return self.accelerator.unwrap_model(self.net)


class StyleFamily(Family):
    name = "style"
    kind = "style"
    title = "per-style network (Johnson et al.)"
    pipeline_tag = "image-to-image"
    image_sizes = SIZES
    config_bounds = {"width": whole(1, 128), "residual_blocks": whole(0, 16)}

    def default_config(self, image_size: int = 128, channels: int = 3) -> dict:
        return {"width": 16, "residual_blocks": 3}

    def default_recipe(self) -> dict:
        return {"steps": 2000, "batch_size": 4, "learning_rate": 2e-3, "image_size": 128, "style_size": 160,
                "content_weight": 1.0, "style_weight": 0.05, "tv_weight": 1e-3, "seed": 0,
                "content_layer": "block3_expanded",
                "loss_network": "efficientnet-lite0"}

    def usage_lines(self, name: str) -> list[str]:
        """The model card's "Use" section."""
        return ["## Use", "", "Open the studio's Style tab and choose this network as the method, or from a script:",
                "", "```python", "from gradio_client import Client, handle_file",
                'client = Client("http://127.0.0.1:7860/")',
                f'png, parameters = client.predict(content=handle_file("photo.jpg"), style=None, method="{name}",',
                '                                  size=512, api_name="/stylize")', "```", ""]

    def build(self, config: dict) -> TransformerNet:
        return TransformerNet(**config)

    def trainer(self, config: dict, recipe: dict, accelerator, job_dir: Path) -> StyleTrainer:
        return StyleTrainer(config, recipe, accelerator, job_dir)

    def loader(self, data: dict[str, torch.Tensor], recipe: dict, seed: int):
        g = torch.Generator().manual_seed(seed)
        images = data["content"]
        bs = min(int(recipe["batch_size"]), images.shape[0])
        return torch.utils.data.DataLoader(RandomCrops(images, int(recipe["image_size"])), batch_size=bs,
                                           shuffle=True, drop_last=True, generator=g, num_workers=0)

    @torch.no_grad()
    def stylize(self, model: LoadedModel, content: torch.Tensor, strength: float = 1.0,
                progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Content (1, 3, H, W) in [0, 1], any size (run in overlapping tiles) -> stylised, same shape, on the
        CPU. `strength` blends the result with the content (1: full style). `progress(tile, tiles)`."""
        if content.shape[1] != 3:
            raise StudioError("per-style networks take RGB images")
        net, device = model.module, model.device
        out = run_tiled(lambda x: net(x.to(device)).float().cpu(), content, TILE, OVERLAP,
                        multiple=TransformerNet.MULTIPLE, progress=progress)
        return strength * out + (1 - strength) * content
