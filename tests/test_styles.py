import math

import numpy as np
import pytest
import torch

from deeplandscape_hf import vocabulary
from deeplandscape_hf.motion import styles as S


def test_vocabulary_and_strength_follow_the_official_configs():
    assert tuple(S.STYLE_TARGETS) == (
        "blue_day",
        "bright_day",
        "bright_evening",
        "light_sunset",
        "warm_sunset",
        "blue_hour",
        "deep_night",
        "blue_morning",
    )
    # the torch-free copy the CLI and procedural data use names exactly these styles, in this order
    assert tuple(S.STYLE_TARGETS) == vocabulary.TIME_OF_DAY_NAMES
    assert vocabulary.STYLE_NAMES == S.STYLE_NAMES == (*S.STYLE_TARGETS, *S.STYLE_PATHS)
    assert S.STYLE_TARGETS["warm_sunset"] == (1.5, 3.5, 0.0)
    assert S.STYLE_TARGETS["blue_morning"] == (2.5, -1.5, 0.0)
    assert [time for time, _ in S.DAY_CYCLE] == [i / 8 for i in range(9)]
    assert S.DAY_CYCLE[0][1] == S.DAY_CYCLE[-1][1] == "blue_day"
    assert [S.default_style_strength(r) for r in (128, 256, 512, 1024)] == [0.7, 0.7, 0.3, 0.3]
    torch.testing.assert_close(S.style_target("deep_night"), torch.tensor([2.5, 0.0, 0.0]))


def test_day_cycle_hits_every_keyframe_at_its_time():
    path = S.style_path("day_cycle", resolution=512)
    expected = np.array([[*S.STYLE_TARGETS[name], 0.3] for _, name in S.DAY_CYCLE])
    np.testing.assert_allclose(path(path.times).numpy(), expected, atol=1e-6)
    frames = path.frame_conditions(17)  # linspace(0, 1, 17) lands on every keyframe (every other frame)
    assert frames.shape == (17, 4)
    np.testing.assert_allclose(frames[::2].numpy(), expected, atol=1e-6)
    between = frames[1].numpy()  # halfway from blue_day to bright_day, spline between the two targets
    assert -1.5 < between[1] < 1.5 and between[3] == pytest.approx(0.3)


def test_custom_keyframes_mix_names_triples_and_four_vectors():
    keyframes = [(0.0, "blue_day"), (0.5, (0.0, 1.0, 2.0)), (2.0, (1.0, 1.0, 1.0, 0.25))]
    path = S.style_path(keyframes, strength=0.5)
    conditions = path(path.times).numpy()
    np.testing.assert_allclose(conditions, [[-1.5, -1.5, 0.0, 0.5], [0.0, 1.0, 2.0, 0.5], [1.0, 1.0, 1.0, 0.25]])
    np.testing.assert_allclose(path.frame_times(5), [0.0, 0.5, 1.0, 1.5, 2.0])
    assert path.names == ("blue_day", None, None)  # the names a pipeline may fit to a photo
    with pytest.raises(ValueError, match="one entry per keyframe"):
        S.StylePath(path.times, path.conditions, names=("blue_day",))
    constant = S.style_conditions("warm_sunset", 3, resolution=256)
    torch.testing.assert_close(constant, torch.tensor([[1.5, 3.5, 0.0, 0.7]] * 3))


def test_loops_need_a_closed_path_and_return_to_the_start():
    path = S.style_path("day_cycle")
    frames = path.frame_conditions(8, loop=True)  # times 0, 1/8, ..., 7/8: the 8 distinct styles
    np.testing.assert_allclose(frames.numpy()[:, :3], [S.STYLE_TARGETS[n] for n in S.STYLE_TARGETS], atol=1e-6)
    ends = path([0.0, 1.0], periodic=True)
    torch.testing.assert_close(ends[0], ends[1])
    nearly = path([1e-3, 1.0 - 1e-3], periodic=True)  # periodic spline: no pause at the seam
    assert (nearly[0] - nearly[1]).abs().max() > 1e-3
    open_path = S.style_path([(0.0, "blue_day"), (1.0, "deep_night")])
    with pytest.raises(ValueError, match="closed style path"):
        open_path.frame_conditions(8, loop=True)


def test_unknown_styles_list_the_valid_names():
    with pytest.raises(ValueError, match=r"blue_day.*deep_night.*day_cycle"):
        S.style_path("sunrise")
    with pytest.raises(ValueError, match="day_cycle"):
        S.style_conditions([(0.0, "noon")], 4)
    with pytest.raises(ValueError, match="3 numbers"):
        S.style_path([(0.0, (1.0, 2.0))])
    with pytest.raises(ValueError, match="strictly increasing"):
        S.style_path([(0.5, "blue_day"), (0.5, "deep_night")])


def test_interpolate_keyframes_splines_arbitrary_values():
    times = [0.0, 0.25, 0.5, 1.0]
    values = torch.randn(4, 2, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    query = np.linspace(0.0, 1.0, 9)
    result = S.interpolate_keyframes(times, values, query)
    assert isinstance(result, torch.Tensor) and result.shape == (9, 2, 5) and result.dtype == torch.float64
    torch.testing.assert_close(result[[0, 2, 4, 8]], values)
    eps = 1e-6
    edge = S.interpolate_keyframes(times, values.numpy(), [0.0, eps])  # clamped: zero velocity at the ends
    assert np.abs(edge[1] - edge[0]).max() / eps < 1e-3
    single = S.interpolate_keyframes([0.3], np.ones((1, 3)), [0.0, 1.0])
    np.testing.assert_array_equal(single, np.ones((2, 3)))


def test_slerp_moves_on_the_sphere():
    a = torch.tensor([1.0, 0.0, 0.0])
    b = torch.tensor([0.0, 2.0, 0.0])
    torch.testing.assert_close(S.slerp(a, b, 0.0), a)
    torch.testing.assert_close(S.slerp(a, b, 1.0), b)
    halfway = S.slerp(a, b, 0.5)  # unnormalised ends, as the official slerp: sin(pi/4) (a + b)
    torch.testing.assert_close(halfway, torch.tensor([math.sqrt(0.5), math.sqrt(2.0), 0.0]))
    path = S.slerp(a, a * 3, torch.linspace(0, 1, 5))  # parallel: falls back to a lerp, no NaN
    torch.testing.assert_close(path[:, 0], torch.linspace(1.0, 3.0, 5))


def test_random_dynamic_style_path_slerps_between_two_draws():
    generator = torch.Generator().manual_seed(7)
    start, end = torch.randn(1, 3, generator=generator), torch.randn(1, 3, generator=generator)
    path = S.random_dynamic_style_path(6, torch.Generator().manual_seed(7))
    assert path.shape == (6, 3)
    torch.testing.assert_close(path[0], start[0])
    torch.testing.assert_close(path[-1], end[0])
    batched = S.random_dynamic_style_path(6, torch.Generator().manual_seed(7), batch_size=2)
    assert batched.shape == (2, 6, 3)
    torch.testing.assert_close(batched[0, 0], start[0])  # all starts are drawn before the ends
