import json

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from deeplandscape_hf.training.procedural import (
    TIME_OF_DAY_NAMES,
    render_landscape,
    render_landscape_video,
    write_mp4,
    write_procedural_dataset,
)


def _frames_changed(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-pixel max abs change between the first and last frame, inside mask."""
    return np.abs(frames[-1].astype(int) - frames[0].astype(int)).max(-1)[mask]


@pytest.mark.parametrize("with_water", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_land_is_static_and_sky_moves(seed, with_water):
    scene = render_landscape(6, 32, seed=seed, with_water=with_water, time_of_day="blue_day")
    land = ~scene.movable_mask
    assert land.any() and scene.sky_mask.mean() > 0.1
    assert np.array_equal(scene.frames[:, land], np.broadcast_to(scene.frames[0][land], scene.frames[:, land].shape))
    sky_change = _frames_changed(scene.frames, scene.sky_mask)
    assert sky_change.mean() > 1.0 and (sky_change > 0).mean() > 0.05
    if with_water:
        assert scene.water_mask.any()
        assert _frames_changed(scene.frames, scene.water_mask).mean() > 1.0
    else:
        assert not scene.water_mask.any()


def test_random_scenes_keep_land_static_and_move_sky():
    for seed in range(10, 22):
        scene = render_landscape(4, (24, 40), seed=seed)
        land = ~scene.movable_mask
        assert (scene.frames[1:, land] == scene.frames[0, land]).all(), seed
        assert _frames_changed(scene.frames, scene.movable_mask).mean() > 0, seed


def test_masks_are_consistent():
    scene = render_landscape(2, 48, seed=4, with_water=True)
    assert scene.sky_mask.shape == scene.water_mask.shape == (48, 48)
    assert not (scene.sky_mask & scene.water_mask).any()
    water_rows = np.flatnonzero(scene.water_mask.any(axis=1))
    sky_rows = np.flatnonzero(scene.sky_mask.any(axis=1))
    assert sky_rows.max() < water_rows.min()  # water lies below the horizon, sky above
    assert scene.sky_mask[0].all()  # the top row is sky


def test_deterministic_per_seed():
    a = render_landscape_video(5, 24, seed=7)
    b = render_landscape_video(5, 24, seed=7)
    c = render_landscape_video(5, 24, seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    g1 = render_landscape_video(3, 16, generator=torch.Generator().manual_seed(3))
    g2 = render_landscape_video(3, 16, generator=torch.Generator().manual_seed(3))
    assert np.array_equal(g1, g2)


def test_sizes_and_masks_output():
    frames = render_landscape_video(3, (24, 40), seed=1)
    assert frames.shape == (3, 24, 40, 3) and frames.dtype == np.uint8
    frames, mask = render_landscape_video(2, 16, seed=1, return_mask=True)
    assert frames.shape == (2, 16, 16, 3) and mask.shape == (16, 16) and mask.dtype == bool
    with pytest.raises(ValueError, match="size"):
        render_landscape_video(2, 4)
    with pytest.raises(ValueError, match="num_frames"):
        render_landscape_video(0, 16)


def test_time_of_day_controls_brightness():
    day = render_landscape(1, 32, seed=5, time_of_day="bright_day").frames.mean()
    sunset = render_landscape(1, 32, seed=5, time_of_day=0.5)
    night = render_landscape(1, 32, seed=5, time_of_day="deep_night").frames.mean()
    assert day > sunset.frames.mean() > night
    assert sunset.time_of_day_name == "warm_sunset"
    sky = sunset.frames[0][sunset.sky_mask].astype(float)
    assert sky[:, 0].mean() > sky[:, 2].mean()  # a sunset sky is warm: more red than blue
    assert render_landscape(1, 16, seed=5, time_of_day="deep_night").time_of_day_name == "deep_night"
    assert len(TIME_OF_DAY_NAMES) == 8
    with pytest.raises(ValueError, match="time_of_day"):
        render_landscape(1, 16, time_of_day="noon")


def test_time_of_day_only_recolours_the_scene():
    day = render_landscape(2, 32, seed=6, time_of_day="blue_day")
    dusk = render_landscape(2, 32, seed=6, time_of_day="blue_hour")
    assert np.array_equal(day.sky_mask, dusk.sky_mask) and np.array_equal(day.water_mask, dusk.water_mask)
    assert not np.array_equal(day.frames, dusk.frames)


def test_one_seed_looks_alike_at_every_size():
    small = render_landscape(1, 32, seed=3, time_of_day="blue_day").frames[0].astype(float)
    large = render_landscape(1, 64, seed=3, time_of_day="blue_day").frames[0]
    large = np.asarray(Image.fromarray(large).resize((32, 32), Image.Resampling.BOX)).astype(float)
    other = render_landscape(1, 32, seed=4, time_of_day="blue_day").frames[0].astype(float)
    assert np.abs(small - large).mean() < 12 < np.abs(small - other).mean()


def test_zero_cloud_speed_freezes_a_dry_scene():
    frames = render_landscape_video(4, 24, seed=2, with_water=False, cloud_speed=0.0)
    assert (frames == frames[0]).all()


def test_write_mp4_dataset(tmp_path):
    paths = write_procedural_dataset(tmp_path, num_videos=2, num_frames=5, size=(16, 24), seed=1)
    assert [p.name for p in paths] == ["procedural_00000.mp4", "procedural_00001.mp4"]
    for path in paths:
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        frames = list(reader)
        reader.close()
        assert tuple(meta["size"]) == (24, 16) and len(frames) == 5
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert [v["path"] for v in meta["videos"]] == [p.name for p in paths]
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_write_frames_dataset_is_lossless(tmp_path):
    (path,) = write_procedural_dataset(tmp_path, 1, 3, 16, seed=4, format="frames")
    files = sorted(path.glob("*.png"))
    assert [f.name for f in files] == ["frame_00000.png", "frame_00001.png", "frame_00002.png"]
    expected = render_landscape_video(3, 16, seed=4 * 1_000_003, day_span=None)
    assert np.array_equal(np.stack([np.asarray(Image.open(f)) for f in files]), expected)


def test_odd_sizes_are_refused_for_mp4(tmp_path):
    with pytest.raises(ValueError, match="even"):
        write_procedural_dataset(tmp_path, 1, 2, (15, 16))
    with pytest.raises(ValueError, match="even"):
        write_mp4(tmp_path / "x.mp4", np.zeros((2, 15, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="format"):
        write_procedural_dataset(tmp_path, 1, 2, 16, format="gif")


def test_day_span_relights_sky_and_land_together():
    """A time-lapse from a day sky into the night: everything darkens, the land does not move, clouds keep drifting."""
    fixed = render_landscape(8, 32, seed=3, with_water=False, time_of_day="blue_day")
    lapse = render_landscape(8, 32, seed=3, with_water=False, time_of_day="blue_day", day_span=0.75)
    assert lapse.day_span == 0.75
    np.testing.assert_allclose(lapse.frame_times, np.linspace(0.0, 0.75, 8), atol=1e-9)
    assert np.array_equal(lapse.frames[0], fixed.frames[0])  # the first frame is the fixed-light scene
    land, sky = ~lapse.movable_mask, lapse.sky_mask
    first, last = lapse.frames[0].astype(float), lapse.frames[-1].astype(float)
    assert last[sky].mean() < 0.3 * first[sky].mean() and last[land].mean() < 0.3 * first[land].mean()
    # land keeps its layout: relit, the pixels keep their order of brightness
    assert np.corrcoef(first[land].mean(-1), last[land].mean(-1))[0, 1] > 0.8
    assert _frames_changed(fixed.frames, sky).mean() > 1.0


def test_random_day_span_is_recorded(tmp_path):
    write_procedural_dataset(tmp_path, num_videos=3, num_frames=2, size=16, seed=5)
    spans = [video["day_span"] for video in json.loads((tmp_path / "metadata.json").read_text())["videos"]]
    assert all(0.05 <= span <= 0.4 for span in spans) and len(set(spans)) == 3
    with pytest.raises(ValueError, match="day_span"):
        render_landscape(2, 16, day_span=float("nan"))
