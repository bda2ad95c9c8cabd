"""GAN projection mechanics on a tiny randomly initialised generator (studio/projection.py)."""
import pytest
import torch
from torch import nn

from studio.families.gan import project
from studio.vision.perceptual import perceptual_distance


class TinyGenerator(nn.Module):
    """z (N, 8) -> images (N, 3, 16, 16) in [-1, 1], shaped like the GAN family's generator."""

    def __init__(self, latent_dim=8):
        super().__init__()
        self.latent_dim = latent_dim
        self.fc = nn.Linear(latent_dim, 16 * 4 * 4)
        self.net = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(),
                                 nn.Upsample(scale_factor=2), nn.Conv2d(8, 3, 3, padding=1), nn.Tanh())

    def forward(self, z):
        return self.net(self.fc(z).view(-1, 16, 4, 4))


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    return TinyGenerator().eval()


def test_perceptual_distance_basics():
    a = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    d_same = perceptual_distance(a, a, size=32)
    assert d_same.shape == (2,) and torch.allclose(d_same, torch.zeros(2), atol=1e-6)
    slightly = (a + 0.03).clamp(0, 1)
    other = a.flip(0).roll(5, dims=-1)
    assert (perceptual_distance(a, slightly, 32) < perceptual_distance(a, other, 32)).all()
    grey = perceptual_distance(a[:, :1], a[:, :1], 32)  # grey images are compared as RGB
    assert torch.allclose(grey, torch.zeros(2), atol=1e-6)


def test_projection_finds_a_reachable_target(gen):
    with torch.no_grad():
        z_true = torch.randn(1, 8, generator=torch.Generator().manual_seed(3))
        target = (gen(z_true) + 1) / 2
    weights = {k: v.clone() for k, v in gen.state_dict().items()}
    calls = []
    result = project(gen, target, steps=12, starts=2, learning_rate=0.1, seed=0, feature_size=32,
                     progress=lambda step, steps, loss: calls.append((step, steps, loss)))
    assert result.latents.shape == (1, 8) and result.images.shape == (1, 3, 16, 16)
    assert 0 <= result.images.min() and result.images.max() <= 1
    assert result.steps_done == 12 and not result.stopped_early
    assert [c[0] for c in calls] == list(range(1, 13)) and all(c[1] == 12 for c in calls)
    assert result.losses[-1] < 0.7 * result.losses[0]
    # The generator is left exactly as it was, with no gradients stored on it.
    assert all(torch.equal(v, gen.state_dict()[k]) for k, v in weights.items())
    assert all(p.grad is None for p in gen.parameters())


def test_projection_is_deterministic(gen):
    target = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    first = project(gen, target, steps=2, starts=2, seed=7, feature_size=32)
    again = project(gen, target, steps=2, starts=2, seed=7, feature_size=32)
    other = project(gen, target, steps=2, starts=2, seed=8, feature_size=32)
    assert torch.equal(first.latents, again.latents) and not torch.equal(first.latents, other.latents)


def test_projection_can_be_cancelled(gen):
    target = torch.full((1, 3, 16, 16), 0.5)
    seen = []
    result = project(gen, target, steps=50, starts=2, feature_size=32, progress=lambda s, n, l: seen.append(s),
                     cancelled=lambda: len(seen) >= 3)
    assert result.stopped_early and result.steps_done == 3 and len(result.losses) == 3
    assert result.latents.shape == (1, 8)
