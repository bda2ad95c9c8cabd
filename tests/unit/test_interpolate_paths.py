"""Latent paths: slerp/lerp, easing, frame counts, loops and the random walk (studio/interpolate.py)."""
import math

import pytest
import torch

from studio.latent.paths import (
    decode_in_batches,
    ease,
    frame_count,
    keyframe_path,
    lerp,
    random_walk,
    segment_times,
    slerp,
)


def gaussian(seed, shape=(64,)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_slerp_ends_midpoint_and_norm():
    a, b = gaussian(1), gaussian(2)
    out = slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    assert out.shape == (3, 64)
    assert torch.allclose(out[0], a, atol=1e-5) and torch.allclose(out[2], b, atol=1e-5)
    # Equal norms: the midpoint lies on the great circle half way (in angle) and keeps the norm, while
    # the straight line dips towards the centre.
    b = b / b.norm() * a.norm()
    mid_s, mid_l = slerp(a, b, 0.5)[0], lerp(a, b, 0.5)[0]

    def angle(x, y):
        return torch.arccos((x / x.norm()) @ (y / y.norm()))
    assert angle(mid_s, a) == pytest.approx(angle(a, b).item() / 2, abs=1e-4)
    assert angle(mid_s, b) == pytest.approx(angle(a, b).item() / 2, abs=1e-4)
    assert mid_s.norm() == pytest.approx(a.norm().item(), rel=1e-4)
    assert mid_l.norm() < 0.9 * a.norm()


def test_slerp_of_parallel_latents_falls_back_to_lerp():
    a = gaussian(3)
    out = slerp(a, 2 * a, torch.tensor([0.25]))
    assert torch.allclose(out[0], 1.25 * a, atol=1e-5)
    assert torch.isfinite(slerp(a, -a, 0.5)).all()


def test_slerp_keeps_image_shaped_latents():
    a, b = gaussian(4, (3, 8, 8)), gaussian(5, (3, 8, 8))
    assert slerp(a, b, torch.linspace(0, 1, 5)).shape == (5, 3, 8, 8)


def test_easing():
    t = torch.linspace(0, 1, 11)
    assert torch.equal(ease(t, "linear"), t)
    e = ease(t, "ease-in-out")
    assert e[0] == 0 and e[-1] == pytest.approx(1.0) and e[5] == pytest.approx(0.5)
    assert (e[1:] >= e[:-1]).all()
    assert e[1] < t[1] and e[9] > t[9]  # slow near both keyframes
    with pytest.raises(ValueError):
        ease(t, "bounce")
    assert torch.allclose(segment_times(4), torch.tensor([0, 0.25, 0.5, 0.75]))


@pytest.mark.parametrize("loop", [False, True])
def test_keyframe_path_counts_and_exact_keyframes(loop):
    keys = torch.stack([gaussian(s) for s in (11, 42, 7)])
    path, positions = keyframe_path(keys, frames=4, method="slerp", easing="ease-in-out", loop=loop)
    assert path.shape[0] == frame_count(3, 4, loop) == len(positions) == (12 if loop else 9)
    for k in range(3):
        assert torch.equal(path[4 * k], keys[k])  # bit for bit
        assert positions[4 * k] == k
    assert positions[1] == 0.25
    if loop:  # the last frame leads back towards the first keyframe
        assert (path[-1] - keys[0]).norm() < (path[-1] - keys[1]).norm()
    else:
        assert torch.equal(path[-1], keys[-1])
    steps = (path[1:] - path[:-1]).norm(dim=1)
    assert steps.max() < 0.8 * (keys[0] - keys[1]).norm()  # no jumps


def test_random_walk_is_a_smooth_gaussian_loop():
    def draw(seeds):
        return torch.stack([gaussian(s, (256,)) for s in seeds])

    walk = random_walk(draw, seed=5, length=48)
    assert walk.shape == (48, 256)
    assert torch.equal(walk, random_walk(draw, seed=5, length=48))
    assert not torch.allclose(walk, random_walk(draw, seed=6, length=48))
    # Each frame looks like a fresh N(0, I) sample...
    assert walk.std(dim=1).mean().item() == pytest.approx(1.0, abs=0.15)
    # ...consecutive frames are close, and the end leads back to the start like any other step.
    steps = (walk - walk.roll(-1, dims=0)).norm(dim=1)
    assert steps.max() < 0.5 * math.sqrt(2 * 256)  # far below the distance of two independent samples
    assert steps[-1] < 1.5 * steps[:-1].mean()


def test_decode_in_batches_progress_and_cancel():
    latents = torch.randn(10, 4)
    calls = []
    out = decode_in_batches(lambda z: z.sigmoid()[:, None, :, None], latents, batch_size=4,
                            progress=lambda done, total: calls.append((done, total)))
    assert out.shape == (10, 1, 4, 1) and torch.allclose(out[:, 0, :, 0], latents.sigmoid())
    assert calls == [(4, 10), (8, 10), (10, 10)]
    with pytest.raises(InterruptedError):
        decode_in_batches(lambda z: z, latents, batch_size=4, cancelled=lambda: True)
