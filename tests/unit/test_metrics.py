"""Quality metrics: EfficientNet-Lite0 features for grey and colour images, FD/KID behaving as distances,
and the digits classifier telling real digits from blank images."""
from __future__ import annotations

import torch

from studio.data.images import builtin_images
from studio.vision.metrics import (
    digit_scores,
    features_of,
    frechet_and_kid,
    real_splits,
)


def test_features_treat_grey_as_repeated_colour():
    grey = torch.rand(2, 1, 32, 32)
    a, b = features_of(grey), features_of(grey.repeat(1, 3, 1, 1))
    assert a.shape == (2, 1280) and torch.allclose(a, b)
    assert torch.allclose(features_of((grey * 255).round().to(torch.uint8)), features_of((grey * 255).round() / 255))


def test_frechet_and_kid_grow_with_the_distance_between_sets():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 1280, generator=g, dtype=torch.float64)
    y = torch.randn(300, 1280, generator=g, dtype=torch.float64)
    same = frechet_and_kid(x, x)
    near = frechet_and_kid(x, y + 0.1)
    far = frechet_and_kid(x, y + 1.0)
    assert abs(same["fd"]) < 1e-3 * near["fd"]
    assert same["kid"] < near["kid"] < far["kid"] and near["fd"] < far["fd"]
    # Shifting every one of 1280 dimensions by 1 adds about 1280 to the squared mean distance.
    assert 1280 * 0.9 < far["fd"] - near["fd"] < 1280 * 1.1


def test_digit_scores_on_real_and_blank_images():
    digits = builtin_images("digits", 32, 1).images.float() / 255
    _, half = real_splits(digits)
    real = digit_scores(half[:200])
    blank = digit_scores(torch.zeros(50, 1, 32, 32))
    assert real["classifier_accuracy"] > 0.95
    assert real["recognised"] > 0.75 and real["classes_covered"] == 10 and real["class_entropy_bits"] > 3.2
    assert blank["classes_covered"] == 1 and blank["class_entropy_bits"] == 0.0
