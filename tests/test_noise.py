import pytest
import torch

from deeplandscape_hf.motion import noise as N


def test_noise_pyramids_have_the_level_sizes_and_follow_the_generator():
    static, dynamic = N.make_static_and_dynamic_noise(3, 2, generator=torch.Generator().manual_seed(0))
    assert [tuple(m.shape) for m in static] == [(2, 1, 4, 4), (2, 1, 8, 8), (2, 1, 16, 16)]
    assert [tuple(m.shape) for m in dynamic] == [(2, 1, 4, 4), (2, 1, 8, 8), (2, 1, 16, 16)]
    again, _ = N.make_static_and_dynamic_noise(5, 2, generator=torch.Generator().manual_seed(0))
    for a, b in zip(static, again):  # more levels never change the static maps of a seed
        assert torch.equal(a, b)
    assert not torch.equal(static[0], dynamic[0])
    assert [N.num_levels_for_resolution(r) for r in (4, 256, 512)] == [1, 7, 8]
    assert N.noise_resolution(6) == 256
    with pytest.raises(ValueError, match="4 \\* 2\\*\\*k"):
        N.num_levels_for_resolution(300)


def test_standardize_like_restores_mean_and_std():
    generator = torch.Generator().manual_seed(1)
    reference = torch.randn(2, 1, 16, 16, generator=generator) * torch.tensor([0.5, 2.0]).view(2, 1, 1, 1) + 3.0
    smeared = torch.nn.functional.avg_pool2d(torch.randn(2, 3, 1, 16, 16, generator=generator).flatten(0, 1), 3, 1, 1)
    smeared = smeared.view(2, 3, 1, 16, 16) * 0.1 - 1.0
    result = N.standardize_like(smeared, reference.unsqueeze(1))  # (B, T, 1, s, s) against (B, 1, 1, s, s)
    std, mean = torch.std_mean(result, dim=(-2, -1))
    ref_std, ref_mean = torch.std_mean(reference, dim=(-2, -1))
    torch.testing.assert_close(std, ref_std[:, None].expand_as(std), atol=1e-5, rtol=0)
    torch.testing.assert_close(mean, ref_mean[:, None].expand_as(mean), atol=1e-5, rtol=0)


def test_shift_mode_translates_the_big_map_and_crops_the_top_left():
    big = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(2))  # level s = 8
    frames = N.shift_maps([big], velocity=(0.25, -0.5), num_frames=3)[0]  # tau = -1, 0, 1
    assert frames.shape == (1, 3, 1, 8, 8)
    # offset = velocity * tau * s px = (2, -4) at tau = 1: output(p) = big(p + offset), wrapped
    expected = torch.roll(big, shifts=(4, -2), dims=(-2, -1))[..., :8, :8]
    torch.testing.assert_close(frames[:, 2], expected)
    torch.testing.assert_close(frames[:, 1], big[..., :8, :8])
    torch.testing.assert_close(frames[:, 0], torch.roll(big, shifts=(-4, 2), dims=(-2, -1))[..., :8, :8])
    drawn = N.shift_noise(4, 5, 2, generator=torch.Generator().manual_seed(0))
    assert [tuple(m.shape) for m in drawn] == [(2, 5, 1, s, s) for s in (4, 8, 16, 32)]


def test_fourier_translation_keeps_white_noise_white():
    noise = torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(3))
    integer = torch.tensor([[3.0, -5.0]])
    rolled = torch.roll(noise, shifts=(5, -3), dims=(-2, -1))
    torch.testing.assert_close(N.translate_periodic(noise, integer, "fourier")[:, 0], rolled, atol=1e-5, rtol=0)
    torch.testing.assert_close(N.translate_periodic(noise, integer, "bilinear")[:, 0], rolled)
    half = torch.tensor([[0.5, 0.5]])
    # bilinear averages 4 neighbours at a half-pixel offset: std drops to ~0.5; the phase ramp keeps ~1
    assert N.translate_periodic(noise, half, "bilinear").std() < 0.6 * noise.std()
    assert N.translate_periodic(noise, half, "fourier").std() > 0.9 * noise.std()
    with pytest.raises(ValueError, match="bilinear.*fourier"):
        N.translate_periodic(noise, half, "cubic")


def test_loop_noise_comes_back_to_frame_zero():
    noise = N.make_noise(3, 1, generator=torch.Generator().manual_seed(4))
    frames = N.loop_noise(noise, 8, cycles=(1, 0), frame_indices=[0, 1, 4, 8], restandardize=False)
    for level, original in zip(frames, noise):
        size = original.shape[-1]
        torch.testing.assert_close(level[:, 0], original, atol=1e-5, rtol=0)
        torch.testing.assert_close(level[:, 3], level[:, 0], atol=1e-5, rtol=0)  # frame N == frame 0
        halfway = torch.roll(original, shifts=-size // 2, dims=-1)  # 4/8 of a period
        torch.testing.assert_close(level[:, 2], halfway, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="integers"):
        N.loop_noise(noise, 8, cycles=(0.5, 0))


def test_loop_noise_mirrors_vertical_motion_below_the_horizon():
    rows = torch.arange(16, dtype=torch.float32).view(1, 1, 16, 1).expand(1, 1, 16, 16).contiguous()
    frames = N.loop_noise([rows], 8, cycles=(0, 1), horizon=0.5, frame_indices=[1], method="bilinear")
    frame = N.loop_noise([rows], 8, cycles=(0, 1), horizon=0.5, frame_indices=[1], restandardize=False)[0][0, 0, 0]
    assert frame[3, 0].item() == pytest.approx(5.0, abs=1e-4)  # sky rows sample 2 px lower: content moves up
    assert frame[12, 0].item() == pytest.approx(10.0, abs=1e-4)  # water rows sample 2 px higher: content moves down
    std, mean = torch.std_mean(frames[0][0, 0])
    assert std.item() == pytest.approx(rows.std().item(), abs=1e-4)
    assert mean.item() == pytest.approx(rows.mean().item(), abs=1e-4)
