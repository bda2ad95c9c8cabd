"""The style-transfer building blocks: losses, colour preservation, masks, tiling, optimisation, features."""
from __future__ import annotations

import os

import pytest
import torch

from studio.core.errors import StudioError
from studio.families.style import TransformerNet
from studio.style.losses import (
    apply_mask,
    from_yiq,
    gram,
    keep_colors,
    luminance,
    soften_mask,
    to_yiq,
)
from studio.style.tiling import run_tiled


def test_gram_is_symmetric_and_scale_free_in_space():
    f = torch.rand(2, 4, 8, 8)
    g = gram(f)
    assert g.shape == (2, 4, 4)
    assert torch.allclose(g, g.transpose(1, 2))
    tiled = f.repeat(1, 1, 2, 2)  # the same texture over four times the area has the same statistics
    assert torch.allclose(gram(tiled), g, atol=1e-6)


def test_yiq_round_trip_and_keep_colors():
    x = torch.rand(1, 3, 16, 16)
    assert torch.allclose(from_yiq(to_yiq(x)), x, atol=1e-5)
    grey = luminance(x)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    styled = torch.rand(1, 3, 16, 16)
    kept = keep_colors(styled, x)
    # luminance from the stylised image, colour (I, Q) from the content, wherever no clamping happened
    inside = ((kept > 0.01) & (kept < 0.99)).all(1)
    assert torch.allclose(to_yiq(kept)[:, 0][inside], to_yiq(styled)[:, 0][inside], atol=1e-4)
    assert torch.allclose(to_yiq(kept)[:, 1:][:, :, inside[0]], to_yiq(x)[:, 1:][:, :, inside[0]], atol=1e-4)


def test_mask_keeps_content_outside_and_softens_edges():
    content, styled = torch.zeros(1, 3, 32, 32), torch.ones(1, 3, 32, 32)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :, :16] = 1
    out = apply_mask(styled, content, soften_mask(mask, 2))
    assert out[..., :, :10].min() == 1 and out[..., :, 22:].max() == 0
    edge = out[0, 0, 5, 12:20]
    assert (edge.diff() <= 0).all() and 0 < edge[3] < 1  # a gradual edge, not a step


def test_tiling_matches_one_pass_for_pointwise_functions_and_handles_odd_sizes():
    image = torch.rand(1, 3, 70, 101)
    out = run_tiled(lambda x: x * 0.5 + 0.1, image, tile=32, overlap=8, multiple=4)
    assert out.shape == image.shape
    assert torch.allclose(out, image * 0.5 + 0.1, atol=1e-5)
    net = TransformerNet(width=4, residual_blocks=1).eval()
    with torch.no_grad():
        tiled = run_tiled(net, image, tile=48, overlap=16, multiple=4)
    assert tiled.shape == image.shape and tiled.min() >= 0 and tiled.max() <= 1


def test_optimisation_lowers_the_style_loss_and_reports_every_step():
    from studio.style.optimize import optimize
    from studio.vision.features import efficientnet_style_network
    torch.manual_seed(0)
    content = torch.rand(1, 3, 48, 48) * 0.2 + 0.4
    style = torch.zeros(1, 3, 48, 48)
    style[:, 0, ::4] = 1.0  # red stripes
    seen = []
    result = optimize(content, [style], [1.0], efficientnet_style_network(), steps=4, callback=seen.append)
    assert [s.step for s in seen] == [1, 2, 3, 4] and seen[-1].image().shape == content.shape
    assert result.history[-1]["style"] < 0.8 * result.history[0]["style"]
    assert result.image.shape == content.shape and not result.stopped
    stopped = optimize(content, [style], [1.0], efficientnet_style_network(), steps=4, should_stop=lambda: True)
    assert stopped.stopped and stopped.history == []


def test_coarse_to_fine_scales():
    from studio.style.optimize import scales_for, split_steps
    assert scales_for(300, 200) == [(300, 200)]
    assert scales_for(1024, 768) == [(256, 192), (512, 384), (1024, 768)]
    assert split_steps(10, 3) == [4, 3, 3]


def test_vgg19_missing_offline_is_a_clear_error_and_style_network_falls_back(tmp_path, monkeypatch):
    import studio.vision.features as features
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setitem(os.environ, "HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(features, "_cache", {k: v for k, v in features._cache.items() if k != "vgg19"})
    monkeypatch.setattr(features, "_unavailable", {})
    with pytest.raises(StudioError, match="not cached"):
        features.vgg19()
    assert features.style_network().name == "efficientnet-lite0"
    with pytest.raises(StudioError):
        features.style_network("vgg19")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / features.VGG19_FILE).write_bytes(b"not a checkpoint")
    monkeypatch.setattr(features, "_unavailable", {})
    with pytest.raises(StudioError, match="not available"):
        features.vgg19()


def test_cached_vgg19_weights_are_used_and_named(tmp_path, monkeypatch):
    """The online path: torchvision's VGG19 file in the torch hub cache is loaded (without pickle) and then
    preferred for optimisation, and the UI and the PNG's parameters name it. The weights written here are
    torchvision's random initialisation, so only the wiring is checked, not how the result looks."""
    import numpy as np
    import torchvision

    import studio.vision.features as features
    from studio.services.stylize import feature_network_in_use, stylize

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(features, "_cache", {k: v for k, v in features._cache.items() if k != "vgg19"})
    monkeypatch.setattr(features, "_unavailable", {})
    (tmp_path / "checkpoints").mkdir()
    torch.manual_seed(0)
    torch.save(torchvision.models.vgg19(weights=None).state_dict(), tmp_path / "checkpoints" / features.VGG19_FILE)
    network = features.style_network()
    assert network.name == "vgg19" and network.content_layer == "relu4_2"
    assert "VGG19" in feature_network_in_use()
    assert features.style_network("efficientnet-lite0").name == "efficientnet-lite0"  # still selectable
    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    style = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    result = stylize(content, style, method="optimization", size=64, steps=2, out_dir=tmp_path / "out")
    assert result.parameters["feature_network"] == "vgg19" and result.path.is_file()


def test_vgg_features_names_relu_outputs():
    import torchvision

    from studio.vision.features import VGGFeatures
    net = VGGFeatures(torchvision.models.vgg19(weights=None).features)  # architecture only: no result shown
    out = net(torch.rand(1, 3, 32, 32), {"relu1_1", "relu3_1", "relu4_2"})
    assert set(out) == {"relu1_1", "relu3_1", "relu4_2"}
    assert out["relu1_1"].shape == (1, 64, 32, 32) and out["relu3_1"].shape == (1, 256, 8, 8)
    assert out["relu4_2"].shape == (1, 512, 4, 4) and all((v >= 0).all() for v in out.values())
