"""Arbitrary style transfer in one forward pass: the AdaIN decoder (Huang & Belongie, 2017). One decoder serves
every style image.

The encoder is a pretrained feature network cut at one layer (for EfficientNet-Lite0, the expanded ReLU6
activation of block 5: 240 channels at 1/8 of the image size, the counterpart of VGG's relu4_1). AdaIN
gives the content's features the style's per-channel mean and standard deviation; a decoder, trained here,
turns those features back into an image. `alpha` blends the normalised
features with the content's own, so 0 reconstructs the content and 1 is full style.

Training (through the shared loop): each step takes a batch of content crops and a batch of style crops,
encodes both with the frozen feature network up to `layer`, gives the content features the style's
per-channel mean and standard deviation (AdaIN), decodes, re-encodes the result, and scores it: the
re-encoded features, each channel normalised to mean 0 and deviation 1, should equal the normalised content
features (content loss), and their means and standard deviations at several layers should equal the
style's (style loss). Only the decoder learns.

The paper compares the re-encoded features with the AdaIN target itself. That target carries the style's
deviations, so for a flat style (paper, canvas) it is nearly constant and the content costs almost nothing
to lose: the first decoder trained here turned such styles into blank texture. Comparing normalised
features (as SANet, Park & Lee 2019, and AdaAttN, Liu et al. 2021, do) scores the content's structure the
same whatever the style's scale, and leaves the scale to the style loss.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..core.errors import StudioError
from ..style.losses import mean_std, statistics_loss
from ..style.tiling import OVERLAP, TILE, run_tiled
from ..vision.features import efficientnet_lite0
from .base import Family, LoadedModel, Trainer
from .checks import choice, whole, wholes
from .networks.adain_decoder import Decoder, adain
from .style import SIZES, RandomCrops


# -- AdaIN and the decoder: networks/adain_decoder.py ---------------------------------------------------
def blended_style_stats(style_features: list[torch.Tensor], weights: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixing styles: AdaIN is linear in the style's mean and std, so the weighted sum of the outputs for
    each style equals one AdaIN with the weighted mean and std (the paper's style interpolation)."""
    stats = [mean_std(f) for f in style_features]
    mean = sum(w * m for (m, _), w in zip(stats, weights))
    std = sum(w * s for (_, s), w in zip(stats, weights))
    return mean, std


def stylize_features(encoder, layer: str, decoder: Decoder, content: torch.Tensor,
                     style_mean: torch.Tensor, style_std: torch.Tensor, alpha: float,
                     content_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Content image (N, 3, H, W) in [0, 1] (H, W multiples of the decoder's scale) -> stylised image."""
    fc = encoder(content, {layer})[layer]
    t = adain(fc, style_mean, style_std, content_stats)
    t = alpha * t + (1 - alpha) * fc
    return decoder(t)


# -- training -----------------------------------------------------------------------------------------------
ENCODERS = {"efficientnet-lite0": {"block5_expanded": 240, "block3_expanded": 144}}


def build_decoder(config: dict) -> Decoder:
    return Decoder(config["in_channels"], list(config["widths"]), config["encoder"], config["layer"])


def encoder_for(config: dict):
    if config["encoder"] != "efficientnet-lite0":  # the only encoder a decoder was trained for here
        raise ValueError(f"unknown AdaIN encoder {config['encoder']!r}")
    return efficientnet_lite0()


def normalized(features: torch.Tensor) -> torch.Tensor:
    """Each channel of (N, C, h, w) features shifted and scaled to mean 0, standard deviation 1 over space."""
    mean, std = mean_std(features)
    return (features - mean) / std


class PairedCrops(torch.utils.data.Dataset):
    """(content crop, style crop): a random style image for each content image, both in [0, 1]."""

    def __init__(self, content: torch.Tensor, style: torch.Tensor, size: int):
        self.content, self.style = RandomCrops(content, size), RandomCrops(style, size)

    def __len__(self):
        return len(self.content)

    def __getitem__(self, i):
        return {"content": self.content[i], "style": self.style[int(torch.randint(len(self.style), ()))]}


class AdaINTrainer(Trainer):
    unit = "images"

    def __init__(self, config: dict, recipe: dict, accelerator, job_dir: Path):
        self.config, self.recipe, self.accelerator = config, recipe, accelerator
        self.encoder = encoder_for(config).to(accelerator.device)
        self.layer = config["layer"]
        self.style_layers = dict(recipe["style_layers"])
        decoder = build_decoder(config)
        opt = torch.optim.Adam(decoder.parameters(), lr=recipe["learning_rate"])
        self.decoder, self.opt = accelerator.prepare(decoder, opt)
        from safetensors.torch import load_file
        data = load_file(str(job_dir / "data.safetensors"))
        size = int(recipe["image_size"])

        def centre(x):
            off = (x.shape[-1] - size) // 2
            return x[..., off:off + size, off:off + size].float() / 255

        g = torch.Generator().manual_seed(0)  # fixed preview pairs
        n = 8
        self.preview_content = centre(data["content"][torch.randint(len(data["content"]), (n,), generator=g)])
        self.preview_style = centre(data["style"][torch.randint(len(data["style"]), (n,), generator=g)])

    def items_in(self, batch) -> int:
        return batch["content"].shape[0]

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        self.decoder.train()
        wanted = set(self.style_layers) | {self.layer}
        with torch.no_grad():
            fc = self.encoder(batch["content"], {self.layer})[self.layer]
            fs = self.encoder(batch["style"], wanted)
            targets = {k: mean_std(fs[k]) for k in self.style_layers}
            t = adain(fc, *targets[self.layer]) if self.layer in targets else adain(fc, *mean_std(fs[self.layer]))
        out = self.decoder(t)
        fo = self.encoder(out, wanted)
        c = torch.nn.functional.mse_loss(normalized(fo[self.layer]), normalized(fc))
        s = statistics_loss(fo, targets, self.style_layers)
        loss = c + self.recipe["style_weight"] * s
        self.opt.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        self.opt.step()
        return {"loss": loss.item(), "content": c.item(), "style": s.item()}

    @torch.no_grad()
    def preview(self, seeds: list[int]) -> torch.Tensor:
        """Triples: content crop, style crop, the content in that style."""
        dec = self.export().eval()
        n = min(len(self.preview_content), max(1, len(seeds) // 3))
        c, s = self.preview_content[:n], self.preview_style[:n]
        device = next(dec.parameters()).device
        fc = self.encoder(c.to(device), {self.layer})[self.layer]
        fs = self.encoder(s.to(device), {self.layer})[self.layer]
        out = dec(adain(fc, *mean_std(fs))).float().cpu()
        return torch.stack([img for trio in zip(c, s, out) for img in trio])

    def modules(self):
        return {"decoder": self.decoder}

    def optimizers(self):
        return {"optimizer": self.opt}

    def export(self) -> Decoder:
        return self.accelerator.unwrap_model(self.decoder)


class AdaINFamily(Family):
    name = "adain"
    kind = "style"
    title = "AdaIN decoder (arbitrary style)"
    pipeline_tag = "image-to-image"
    image_sizes = SIZES
    config_bounds = {"encoder": choice(*ENCODERS), "layer": choice(*sorted({k for v in ENCODERS.values() for k in v})),
                     "in_channels": whole(1, 2048), "widths": wholes(1, 512, 1, 6)}

    def check_config_rules(self, config: dict) -> None:
        layers = ENCODERS[config["encoder"]]
        if config["layer"] not in layers:
            raise StudioError(f"config layer must be one of {', '.join(layers)} for the {config['encoder']} encoder")
        if config["in_channels"] != layers[config["layer"]]:
            raise StudioError(f"config in_channels must be {layers[config['layer']]}, the width of the encoder's "
                              f"{config['layer']} features; got {config['in_channels']}")

    def default_config(self, image_size: int = 128, channels: int = 3) -> dict:
        layer = "block5_expanded"
        return {"encoder": "efficientnet-lite0", "layer": layer, "in_channels": ENCODERS["efficientnet-lite0"][layer],
                "widths": [128, 64, 32, 16]}

    def default_recipe(self) -> dict:
        return {"steps": 3000, "batch_size": 8, "learning_rate": 1e-3, "image_size": 128, "style_weight": 3.0,
                "style_layers": {"stem": 1.0, "block1_expanded": 1.0, "block3_expanded": 1.0,
                                 "block5_expanded": 1.0},
                "seed": 0}

    def usage_lines(self, name: str) -> list[str]:
        """The model card's "Use" section."""
        return ["## Use", "", "Open the studio's Style tab (method `adain`), or from a script:", "", "```python",
                "from gradio_client import Client, handle_file", 'client = Client("http://127.0.0.1:7860/")',
                'png, parameters = client.predict(content=handle_file("photo.jpg"), style=handle_file("painting.png"),',
                f'                                  method="{name}", strength=1.0, size=512, api_name="/stylize")',
                "```", ""]

    def build(self, config: dict) -> Decoder:
        return build_decoder(config)

    def load(self, folder: Path, meta: dict, device: torch.device) -> LoadedModel:
        loaded = super().load(folder, meta, device)
        loaded.extras["encoder"] = encoder_for(meta["config"]).to(device)
        loaded.extras["layer"] = meta["config"]["layer"]
        return loaded

    @torch.no_grad()
    def stylize(self, model: LoadedModel, content: torch.Tensor, styles: list[torch.Tensor], weights: list[float],
                strength: float = 1.0, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Content (1, 3, H, W) and style images (each (1, 3, h, w)) in [0, 1], mixed by `weights` (summing to
        1) -> the content in the blended style, (1, 3, H, W) on the CPU. `strength` blends the AdaIN features
        with the content's own (0: the content, 1: full style). Large images run in overlapping tiles;
        `progress(tile, tiles)`."""
        encoder, layer, decoder, device = model.extras["encoder"], model.extras["layer"], model.module, model.device
        scale = decoder.scale
        feats = []
        for s in styles:
            # The style is seen at the output's scale (longer sides matched), as in optimisation: its texture
            # keeps its size relative to the picture, and a large style image costs no more than the output.
            k = min(1.0, max(content.shape[-2:]) / max(s.shape[-2:]))
            s = F.interpolate(s, scale_factor=k, mode="bilinear", align_corners=False, antialias=True) if k < 1 else s
            feats.append(encoder(_pad(s, scale).to(device), {layer})[layer])
        style_mean, style_std = blended_style_stats(feats, weights)
        # Every tile is normalised with the whole image's content statistics (measured on the image at most one
        # tile large), so tiles agree with each other.
        small = F.interpolate(content, scale_factor=min(1.0, TILE / max(content.shape[-2:])), mode="bilinear",
                              align_corners=False, antialias=True)
        content_stats = mean_std(encoder(_pad(small, scale).to(device), {layer})[layer])

        def one(x):
            return stylize_features(encoder, layer, decoder, x.to(device), style_mean, style_std, strength,
                                    content_stats).float().cpu()

        return run_tiled(one, content, TILE, OVERLAP, multiple=scale, progress=progress)

    def trainer(self, config: dict, recipe: dict, accelerator, job_dir: Path) -> AdaINTrainer:
        return AdaINTrainer(config, recipe, accelerator, job_dir)

    def loader(self, data: dict[str, torch.Tensor], recipe: dict, seed: int):
        g = torch.Generator().manual_seed(seed)
        dataset = PairedCrops(data["content"], data["style"], int(recipe["image_size"]))
        bs = min(int(recipe["batch_size"]), len(dataset))
        return torch.utils.data.DataLoader(dataset, batch_size=bs, shuffle=True, drop_last=True, generator=g,
                                           num_workers=0)


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
