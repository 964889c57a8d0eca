"""Synthetic videos: determinism, what moves and what stays, loops, chunking, styles and errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from deeplandscape_hf import DeepLandscapeGenerator, GeneratorConfig
from deeplandscape_hf.motion.styles import STYLE_TARGETS
from deeplandscape_hf.networks.layers import NoiseInjection
from deeplandscape_hf.networks.synthetic import generate_video, plan_video

# Random N(0, 1) weights give pre-clamp activations of ~+-30, so float32 rounding between batch sizes reaches ~1e-5:
# "equal" below means within 1e-4, while real changes (motion, style) are >= 1e-3.


def tiny_model(resolution: int = 16, dynamic_weights: bool = True) -> DeepLandscapeGenerator:
    torch.manual_seed(0)
    config = GeneratorConfig(
        resolution=resolution, channels=[16, 16, 8, 8], z_dim=32, w_dim=16, mapping_layers=2, fused_from_resolution=16
    )
    model = DeepLandscapeGenerator(config).eval()
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, NoiseInjection):
                module.weight.normal_() if ("static" in name or dynamic_weights) else module.weight.zero_()
    model.compute_w_avg(num_samples=512)
    return model


@pytest.fixture(scope="module")
def model() -> DeepLandscapeGenerator:
    return tiny_model()


def consecutive_change(video: torch.Tensor) -> torch.Tensor:
    return (video[1:] - video[:-1]).abs().flatten(1).mean(1)


def test_shape_range_and_same_seed_same_video(model):
    video = model.generate_video(num_frames=6, seed=3)
    assert video.shape == (6, 3, 16, 16) and video.dtype == torch.float32
    assert video.min() >= -1 and video.max() <= 1
    assert torch.equal(video, model.generate_video(num_frames=6, seed=3))
    assert not torch.allclose(video, model.generate_video(num_frames=6, seed=4))
    # the method delegates to the library function; a generator replaces the seed
    assert torch.equal(video, generate_video(model, 6, seed=3))
    assert torch.equal(video, model.generate_video(num_frames=6, generator=torch.Generator().manual_seed(3)))
    # a longer video of the same seed starts with the same sample (draw order does not depend on T)
    longer = model.generate_video(num_frames=9, seed=3, style="warm_sunset")
    torch.testing.assert_close(longer[:1], model.generate_video(num_frames=6, seed=3, style="warm_sunset")[:1])


def test_motion_moves_frames_and_no_motion_keeps_them(model):
    moving = model.generate_video(num_frames=5, seed=0, motion="m12", speed=4, style="keep")
    assert torch.all(consecutive_change(moving) > 1e-3)
    still = model.generate_video(num_frames=5, seed=0, motion=None, style="keep")
    assert torch.all(consecutive_change(still) < 1e-5)  # float rounding only (chunks of different batch sizes)
    assert torch.equal(moving[0], still[0])  # frame 0 is the unwarped sample


def test_static_only_model_gives_identical_frames():
    static_only = tiny_model(dynamic_weights=False)  # S_dyn has zero weight everywhere: motion cannot show
    video = static_only.generate_video(num_frames=5, seed=1, motion="m12", speed=4, style="deep_night")
    torch.testing.assert_close(video, video[:1].expand_as(video), atol=1e-4, rtol=0)
    other_seed = static_only.generate_video(num_frames=2, seed=2, motion="m12", style="deep_night")
    assert not torch.allclose(video[0], other_seed[0])  # the static noise and z_st still matter


def test_loop_frame_n_equals_frame_0_and_the_seam_is_smooth(model):
    num_frames = 12
    for style in (None, "day_cycle"):
        plan = plan_video(model, num_frames, seed=5, motion="m12", speed=2.5, style=style, loop=True)
        frames = plan.render(np.arange(num_frames + 1), clamp=False)
        torch.testing.assert_close(frames[num_frames], frames[0], atol=1e-4, rtol=0)  # float32 rounding
        steps = consecutive_change(frames)
        assert steps[-1] < 3 * steps[:-1].median()  # going from frame N-1 back to 0 is an ordinary step
        torch.testing.assert_close(plan.z_dynamic([num_frames]), plan.z_dynamic([0]), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="closed"):
        plan_video(model, 4, loop=True, style=[(0.0, "blue_day"), (1.0, "deep_night")])


def test_batches_do_not_change_frames(model):
    one = model.generate_video(num_frames=7, seed=2, batch_size=1)
    many = model.generate_video(num_frames=7, seed=2, batch_size=3)
    torch.testing.assert_close(one, many, atol=1e-4, rtol=0)


def test_mapping_runs_once_per_distinct_z_dynamic(model):
    sizes = []
    hook = model.mapping.register_forward_hook(lambda module, args, out: sizes.append(args[0].shape[0]))
    try:
        model.generate_video(num_frames=9, seed=0, style="blue_hour", batch_size=2)
        assert sizes == [1]
        sizes.clear()
        model.generate_video(num_frames=9, seed=0, style=None, batch_size=2)
        assert sizes == [9]  # the official slerp: every frame has its own z_dyn, still one mapping call
    finally:
        hook.remove()


def test_style_choices_set_z_dynamic(model):
    z = torch.randn(32, generator=torch.Generator().manual_seed(9))
    named = plan_video(model, 4, z=z, style="warm_sunset")
    assert torch.allclose(named.z_dynamic(), torch.tensor(STYLE_TARGETS["warm_sunset"]).expand(4, 3))
    assert torch.equal(named.z[0, :29], z[:29])  # z_st comes from the given z
    keep = plan_video(model, 4, z=z, style="keep")
    assert torch.equal(keep.z_dynamic(), z[29:].expand(4, 3))
    half = plan_video(model, 4, z=z, style="warm_sunset", style_strength=0.5)
    expected = 0.5**0.5 * z[29:] + 0.5**0.5 * torch.tensor(STYLE_TARGETS["warm_sunset"])
    torch.testing.assert_close(half.z_dynamic([0])[0], expected)
    random = plan_video(model, 5, seed=0).z_dynamic()
    assert not torch.allclose(random[0], random[-1])  # official INTERPOLATE: two random end points
    cycle = plan_video(model, 9, seed=0, style="day_cycle").z_dynamic()
    torch.testing.assert_close(cycle[0], torch.tensor(STYLE_TARGETS["blue_day"]))
    torch.testing.assert_close(cycle[4], torch.tensor(STYLE_TARGETS["warm_sunset"]), atol=1e-5, rtol=0)
    per_frame = torch.randn(4, 3)
    assert torch.equal(plan_video(model, 4, style=per_frame).z_dynamic(), per_frame)
    # different styles change the look of the same sample
    night = model.generate_video(num_frames=1, seed=0, style="deep_night")
    day = model.generate_video(num_frames=1, seed=0, style="bright_day")
    assert (night - day).abs().mean() > 1e-3


def test_mixing_uses_a_second_latent_above_the_crossover(model):
    plain = plan_video(model, 3, seed=1, style="blue_day")
    mixed = plan_video(model, 3, seed=1, style="blue_day", mixing=True)
    assert 0 <= mixed.crossover_level < model.num_levels - 1
    w_plain, w_mixed = plain.w_plus(), mixed.w_plus()
    cut = 2 * (mixed.crossover_level + 1)
    torch.testing.assert_close(w_plain[:, :cut], w_mixed[:, :cut])
    assert not torch.allclose(w_plain[:, cut:], w_mixed[:, cut:])


def test_clear_errors(model):
    with pytest.raises(ValueError, match="num_frames"):
        model.generate_video(num_frames=0)
    with pytest.raises(ValueError, match="warm_sunset.*day_cycle"):
        model.generate_video(num_frames=2, style="sunrise")
    with pytest.raises(ValueError, match="m01.*man5"):
        model.generate_video(num_frames=2, motion="m13")
    with pytest.raises(ValueError, match="batch_size"):
        model.generate_video(num_frames=2, batch_size=0)
    with pytest.raises(ValueError, match="speed"):
        model.generate_video(num_frames=2, speed=-1)
    with pytest.raises(ValueError, match="z"):
        model.generate_video(num_frames=2, z=torch.randn(7))


@pytest.mark.skipif(sys.platform != "linux", reason="glibc mallopt")
def test_allocator_tuning_applies_in_its_own_process():
    code = "from deeplandscape_hf.networks.synthetic import tune_cpu_allocator; print(tune_cpu_allocator())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() in ("True", "False")  # False only on a non-glibc libc (musl)
