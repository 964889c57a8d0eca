import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deeplandscape_hf import motion as M

# the authors' homography CSVs (rows lt, rt, lh, rh; columns dx, dy)
M01_TABLE = [[-4e-4, 4e-3], [-1e-2, 4e-3], [-2e-5, 2e-5], [-2e-4, 2e-5]]
MAN5_TABLE = [[4e-3, 2e-3], [4e-3, 6e-3], [2e-3, 1e-3], [2e-3, 3e-3]]
M02_TABLE = [[-3.33e-3, 1.67e-3], [-5e-3, 6.67e-4], [-3.33e-5, 1.67e-4], [-3.33e-5, 1.67e-4]]


def px(pixels: float, size: int) -> float:
    """Pixels -> normalised units on the kornia meshgrid (pixel centres at -1 and +1)."""
    return pixels * 2.0 / (size - 1)


def translation(dx: float, dy: float) -> torch.Tensor:
    return torch.tensor([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]], dtype=torch.float64)


def smooth_map(size: int, seed: int = 0, coarse: int = 6) -> torch.Tensor:
    coarse_map = torch.randn(1, 1, coarse, coarse, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse_map, size=(size, size), mode="bicubic", align_corners=True)


def test_presets_load_with_the_official_values():
    expected_names = (*(f"m{i:02d}" for i in range(1, 13)), *(f"man{i}" for i in range(1, 6)))
    assert expected_names == M.MOTION_PRESET_NAMES
    for preset in M.MOTION_PRESETS.values():
        assert preset.shifts.shape == (4, 2)
    np.testing.assert_allclose(M.get_motion("m01").shifts, M01_TABLE, rtol=1e-12)
    np.testing.assert_allclose(M.get_motion("man5").shifts, MAN5_TABLE, rtol=1e-4)  # float32 noise in the CSV
    np.testing.assert_allclose(M.get_motion("m02").shifts, M02_TABLE, rtol=3e-3)  # the table rounds thirds
    assert M.get_motion("m02").shifts[0, 0] == pytest.approx(-1 / 300, rel=1e-12)


def test_speed_multiplies_shifts_and_bad_inputs_list_the_options():
    fast = M.get_motion("m03", speed=2.5)
    np.testing.assert_allclose(fast.shifts, 2.5 * M.MOTION_PRESETS["m03"].shifts)
    assert fast.speed == 2.5 and fast.name == "m03"
    with pytest.raises(ValueError, match=r"m01.*man5"):
        M.get_motion("m13")
    with pytest.raises(ValueError, match="positive"):
        M.get_motion("m01", speed=0)
    with pytest.raises(ValueError, match="Motion, a MotionPreset"):
        M.resolve_homographies(42, 0.5)


def test_csv_round_trip_and_malformed_files(tmp_path):
    preset = M.get_motion("man1", speed=4)
    preset.to_csv(tmp_path / "mine.csv")
    loaded = M.load_motion_csv(tmp_path / "mine.csv")
    np.testing.assert_array_equal(loaded.shifts, preset.shifts)
    assert loaded.name == "mine"
    assert np.loadtxt(tmp_path / "mine.csv").reshape(2, 2, 2).shape == (2, 2, 2)  # the authors' own reader
    (tmp_path / "comma.csv").write_text("# lt\n-1e-3, 2e-3\n-1e-3,2e-3\n0 1e-4\n0, 1e-4\n")
    np.testing.assert_allclose(M.get_motion(tmp_path / "comma.csv").shifts[1], [-1e-3, 2e-3])
    (tmp_path / "short.csv").write_text("1 2\n3 4\n5 6\n")
    with pytest.raises(ValueError, match="expected 4 rows of 2 numbers"):
        M.load_motion_csv(tmp_path / "short.csv")
    (tmp_path / "text.csv").write_text("1 2\n3 4\n5 6\n7 x\n")
    with pytest.raises(ValueError, match="expected 4 rows of 2 numbers"):
        M.load_motion_csv(tmp_path / "text.csv")
    with pytest.raises(FileNotFoundError):
        M.load_motion_csv(tmp_path / "missing.csv")


def test_dlt_recovers_a_known_homography():
    known = torch.tensor([[1.02, 0.01, 0.03], [-0.02, 0.98, 0.01], [0.01, -0.02, 1.0]], dtype=torch.float64)
    src = np.array([[-1.0, -1.0], [1.0, -1.0], [-1.0, 0.2], [1.0, 0.3]])
    mapped = np.c_[src, np.ones(4)] @ known.numpy().T
    dst = mapped[:, :2] / mapped[:, 2:]
    torch.testing.assert_close(M.homography_from_points(src, dst), known, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="no 3 on one line"):
        M.homography_from_points([[0, 0], [1, 1], [2, 2], [0, 1]], dst)


def test_translation_homography_moves_a_pattern_by_the_expected_pixels():
    size = 33
    image = torch.zeros(1, 1, size, size)
    image[0, 0, 10, 20] = 1.0
    warped = M.warp_with_homography(image, translation(px(3, size), px(-2, size)))
    # output(p) = input(H p): sampling 3 px right and 2 px up moves the content 3 px left and 2 px down
    assert warped[0, 0, 12, 17].item() == pytest.approx(1.0, abs=1e-5)
    assert warped.sum().item() == pytest.approx(1.0, abs=1e-5)
    torch.testing.assert_close(M.warp_with_homography(image, torch.eye(3)), image)  # align_corners=True: exact


def test_sky_motion_is_mirrored_below_the_horizon():
    size = 33
    dy = px(2, size)
    sky_h, earth_h = M.build_homographies(np.tile([0.0, dy], (4, 1)), horizon=0.5)
    torch.testing.assert_close(sky_h, translation(0.0, dy))
    torch.testing.assert_close(earth_h, translation(0.0, -dy))
    rows = torch.arange(size, dtype=torch.float32).view(1, 1, size, 1).expand(1, 1, size, size).contiguous()
    warped = M.warp_with_horizon(rows, (sky_h, earth_h), horizon=0.5)[0, 0, :, 5]
    assert warped[5].item() == pytest.approx(7.0, abs=1e-4)  # sky: the content moves up by 2 px
    assert warped[25].item() == pytest.approx(23.0, abs=1e-4)  # water: the same drift moves it down by 2 px


def test_degenerate_horizons_give_identities_and_water_can_move_on_its_own():
    shifts = M.get_motion("m12").shifts
    assert torch.equal(M.build_homographies(shifts, 0.0)[0], torch.eye(3, dtype=torch.float64))
    assert torch.equal(M.build_homographies(shifts, 1.0)[1], torch.eye(3, dtype=torch.float64))
    sky = M.get_motion("m01")
    same = M.Motion(sky, water=sky).homographies(0.4)
    for a, b in zip(same, M.Motion(sky).homographies(0.4)):
        torch.testing.assert_close(a, b)
    separate = M.Motion.from_names("m01", water="man3").homographies(0.4)
    torch.testing.assert_close(separate[0], same[0])
    assert (separate[1] - same[1]).abs().max() > 1e-3
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.build_homographies(shifts, 1.5)


def test_homography_powers_follow_the_official_rounding():
    sky_h, _ = M.get_motion("man1").homographies(0.5)
    identity = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(M.homography_power(sky_h, 3) @ M.homography_power(sky_h, -3), identity)
    torch.testing.assert_close(M.homography_power(sky_h, 2.7), sky_h @ sky_h)
    torch.testing.assert_close(M.homography_power(sky_h, -2.7), torch.linalg.inv(sky_h @ sky_h))
    assert [M.official_exponent(n) for n in (0, 0.5, 1.0, 2.7, -0.2, -3.9)] == [0, 1, 1, 2, -1, -3]
    half = M.homography_power(sky_h, 0.5, fractional=True)
    torch.testing.assert_close(half @ half, sky_h, atol=1e-12, rtol=0)


def test_warp_then_inverse_warp_is_identity_in_the_interior():
    image = smooth_map(64)
    homographies = M.get_motion("man1", speed=2).homographies(0.6)
    forward = [M.homography_power(h, 5) for h in homographies]
    backward = [M.homography_power(h, -5) for h in homographies]
    there = M.warp_with_homography(image, forward[0])
    back = M.warp_with_homography(there, backward[0])
    moved = (there - image)[..., 16:48, 16:48].abs().max()  # measured 0.52
    assert moved > 0.2
    assert (back - image)[..., 16:48, 16:48].abs().max() < 0.05 * moved  # measured 0.010: two bilinear resamplings


def test_direction_motion_is_shaped_like_the_selected_presets():
    right = M.motion_from_direction(0.0, speed=2.0)
    np.testing.assert_allclose(right.shifts[0], 2 * right.shifts[2])  # top moves twice as fast as the horizon
    np.testing.assert_allclose(right.shifts[2], [-2 * M.DIRECTION_HORIZON_SHIFT, 0.0], atol=1e-15)
    up = M.motion_from_direction(90.0)
    np.testing.assert_allclose(up.shifts[3], [0.0, M.DIRECTION_HORIZON_SHIFT], atol=1e-15)
    # rendered: a bright column drifts to the right in an all-sky frame
    size = 65
    image = torch.zeros(1, 1, size, size)
    image[..., 32] = 1.0
    sky_h, _ = M.motion_from_direction(0.0, speed=20).homographies(1.0)
    moved = M.warp_with_homography(image, M.homography_power(sky_h, 10))
    assert moved[0, 0, 32].argmax().item() > 32


def test_noise_video_frame_zero_is_untouched_and_statistics_are_restored():
    noise = [torch.randn(2, 1, s, s, generator=torch.Generator().manual_seed(s)) for s in (4, 8, 16)]
    video = M.warp_noise_video(noise, "m12", 4, horizon=0.4, working_resolution=16)
    assert [tuple(level.shape) for level in video] == [(2, 4, 1, s, s) for s in (4, 8, 16)]
    for level, original in zip(video, noise):
        assert torch.equal(level[:, 0], original)
        assert (level[:, 3] - original).abs().max() > 1e-3
    # at the working resolution the re-standardisation is exact: each warped map keeps its pre-warp mean and std
    std, mean = torch.std_mean(noise[2], dim=(-2, -1))
    warped_std, warped_mean = torch.std_mean(video[2][:, 1:], dim=(-2, -1))
    torch.testing.assert_close(warped_std, std[:, None].expand_as(warped_std), atol=1e-5, rtol=0)
    torch.testing.assert_close(warped_mean, mean[:, None].expand_as(warped_mean), atol=1e-5, rtol=0)
    single = M.warp_dynamic_noise(noise, M.get_motion("m12").homographies(0.4), 3, 0.4, working_resolution=16)
    for level, frame in zip(video, single):
        torch.testing.assert_close(level[:, 3], frame)


def test_official_schedule_and_the_recipe_at_native_resolution():
    np.testing.assert_array_equal(M.homography_schedule(), np.arange(1, 101))
    assert M.homography_schedule(100, M.STYLE_MIN_SHIFT, M.STYLE_MAX_SHIFT)[[0, -1]].tolist() == [-200, 200]
    noise = [smooth_map(32)]
    homographies = M.get_motion("man2", speed=3).homographies(0.5)
    frame = M.warp_dynamic_noise(noise, homographies, 4, 0.5, working_resolution=32)[0]
    expected = M.warp_with_horizon(noise[0], [M.homography_power(h, 4) for h in homographies], 0.5)
    expected = (expected - expected.mean()) / expected.std() * noise[0].std() + noise[0].mean()
    torch.testing.assert_close(frame, expected, atol=1e-5, rtol=0)


def test_loop_mode_returns_to_frame_zero_smoothly():
    num_frames, motion = 12, M.get_motion("man1", speed=4)
    noise = [smooth_map(32, seed=3)]
    frames = M.warp_noise_video(
        noise, motion, num_frames, 0.5, loop=True, working_resolution=32, frame_indices=range(num_frames + 1)
    )[0][0, :, 0]
    assert torch.equal(frames[num_frames], frames[0])
    assert torch.equal(frames[0], noise[0][0, 0])
    plain = M.warp_noise_video(noise, motion, num_frames, 0.5, working_resolution=32)[0][0, :, 0]

    def steps(video: torch.Tensor) -> torch.Tensor:
        return (video[1:] - video[:-1]).abs().mean(dim=(-2, -1))  # mean change from frame k to k + 1

    loop_steps, plain_steps = steps(frames), steps(plain)
    naive_seam = (plain[-1] - plain[0]).abs().mean()  # what wrapping the plain video around would show
    assert loop_steps[-1] < 0.15 * naive_seam  # measured 0.048 vs 0.486
    assert loop_steps[-1] < 1.5 * max(loop_steps[0], loop_steps[-2])  # the seam step looks like its neighbours
    assert loop_steps.max() < 1.1 * plain_steps.max()  # never changes faster than the motion itself
    assert loop_steps.max() < 2.5 * loop_steps.min()
