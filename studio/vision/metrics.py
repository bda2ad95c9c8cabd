"""Sample quality, measured: Frechet distance (FD) and kernel distance (KID) between generated and real images,
and, for digits, how often a digits classifier recognises the samples and how many classes they cover.

Features come from EfficientNet-Lite0's pooled head (1280 numbers per image, ImageNet-trained, installed from
PyPI, so it works offline); torchmetrics' `FrechetInceptionDistance` and `KernelInceptionDistance` do the
statistics with this network in place of Inception. Numbers on this network are comparable with each other,
not with published Inception FIDs. With a few hundred images FD is biased upward, so every report also gives
the *floor*: the same metric between two real splits of the same size. Read a model's FD as "how far above
the floor".
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_SIZE = 224
BATCH = 64


class PooledFeatures(nn.Module):
    """Images (N, 1 or 3, H, W), float in [0, 1] or uint8 in [0, 255] -> EfficientNet-Lite0 pooled features
    (N, 1280). Grey images are repeated to three channels; every image is resized to 224 px (bilinear)."""

    num_features = 1280

    def __init__(self):
        super().__init__()
        from .features import efficientnet_lite0
        self.net = efficientnet_lite0()
        # Depthwise convolutions run about 1.7x faster channels-last on CPU (measured here).
        self.net.net.to(memory_format=torch.channels_last)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        x = F.interpolate(x, size=(FEATURE_SIZE, FEATURE_SIZE), mode="bilinear", align_corners=False,
                          antialias=True)
        return self.net.pooled(x.clamp(0, 1).contiguous(memory_format=torch.channels_last)).double()


class _Precomputed(nn.Module):
    """The "feature network" handed to torchmetrics once features are computed: it passes them through.
    Both metrics need the same features; computing them once halves the (dominant) network time."""

    num_features = PooledFeatures.num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def features_of(images: torch.Tensor, feature: PooledFeatures | None = None) -> torch.Tensor:
    """Pooled EfficientNet-Lite0 features (N, 1280) of images (N, C, H, W) in [0, 1], in batches."""
    feature = feature or PooledFeatures()
    return torch.cat([feature(chunk) for chunk in images.split(BATCH)])


def frechet_and_kid(generated: torch.Tensor, real: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """FD and KID (mean and std over subsets) between two sets: images (N, C, H, W) in [0, 1], or features
    (N, 1280) already computed with `features_of`.

    KID uses 50 subsets of min(100, smaller set) images, drawn after seeding torch with `seed`."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    gen = generated if generated.ndim == 2 else features_of(generated)
    ref = real if real.ndim == 2 else features_of(real)
    fid = FrechetInceptionDistance(feature=_Precomputed())
    kid = KernelInceptionDistance(feature=_Precomputed(), subsets=50,
                                  subset_size=min(100, gen.shape[0], ref.shape[0]))
    for metric in (fid, kid):
        metric.update(ref, real=True)
        metric.update(gen, real=False)
    torch.manual_seed(seed)  # KID draws its subsets with torch's global generator
    kid_mean, kid_std = kid.compute()
    return {"fd": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std)}


def real_splits(images: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint halves of a real image set, by a seeded permutation (the floor compares them)."""
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))
    half = images.shape[0] // 2
    return images[order[:half]], images[order[half:2 * half]]


# -- digits --------------------------------------------------------------------------------------------
_classifier = None


def digits_classifier():
    """A support-vector classifier on scikit-learn's 8x8 digits (about 98-99% held-out accuracy), fitted once.
    Returns (classifier, held-out accuracy on a quarter of the digits it did not train on)."""
    global _classifier
    if _classifier is None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        from sklearn.svm import SVC

        digits = load_digits()
        x_train, x_test, y_train, y_test = train_test_split(digits.data, digits.target, test_size=0.25,
                                                            random_state=0, stratify=digits.target)
        from sklearn.calibration import CalibratedClassifierCV
        clf = CalibratedClassifierCV(SVC(gamma=0.001, C=10), ensemble=False).fit(x_train, y_train)
        _classifier = (clf, float(clf.score(x_test, y_test)))
    return _classifier


def to_digit_features(images: torch.Tensor) -> torch.Tensor:
    """Images (N, C, H, W) in [0, 1], ink bright on dark as the built-in set is -> (N, 64) in 0..16, the
    scale scikit-learn's 8x8 digits use (area-averaged down to 8x8)."""
    grey = images.float().mean(dim=1, keepdim=True)
    return (F.adaptive_avg_pool2d(grey, 8).flatten(1) * 16).clamp(0, 16)


def digit_scores(images: torch.Tensor, confident: float = 0.9) -> dict[str, float]:
    """How a digits classifier sees the images: the share it recognises with probability >= `confident`,
    how many of the 10 classes hold at least 2% of the images, and the entropy of the class histogram in
    bits (log2(10) = 3.32 is perfectly even)."""
    clf, accuracy = digits_classifier()
    proba = torch.from_numpy(clf.predict_proba(to_digit_features(images).numpy()))
    labels = proba.argmax(1)
    share = torch.bincount(labels, minlength=10).float() / labels.numel()
    nonzero = share[share > 0]
    return {"recognised": float((proba.max(1).values >= confident).float().mean()),
            "classes_covered": int((share >= 0.02).sum()),
            "class_entropy_bits": float(-(nonzero * nonzero.log2()).sum()),
            "classifier_accuracy": accuracy}
