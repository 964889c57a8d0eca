"""Video writers/readers: browser-playable H.264 at even sizes, loops, PNG frames, atomic writes, clear errors."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from deeplandscape_hf.animation import video as video_module
from deeplandscape_hf.animation.video import (
    VideoWriteError,
    check_video_path,
    frames_to_uint8,
    read_video,
    tile_videos,
    video_info,
    write_video,
)


def _moving_frames(num_frames: int = 6, height: int = 31, width: int = 33) -> torch.Tensor:
    """A bright square moving right over a smooth gradient: (T, 3, H, W) in [-1, 1]."""
    y = torch.linspace(-0.8, 0.8, height)[:, None].expand(height, width)
    frames = y.expand(num_frames, 3, height, width).clone()
    for t in range(num_frames):
        frames[t, :, 8:18, 2 + 2 * t : 12 + 2 * t] = 1.0
    return frames


def _leftovers(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if "partial" in p.name]


def test_frames_to_uint8_from_tensor_and_pil_list():
    frames = _moving_frames()
    array = frames_to_uint8(frames)
    assert array.shape == (6, 31, 33, 3) and array.dtype == np.uint8
    assert array[0, 10, 5].tolist() == [255, 255, 255]
    from_pil = frames_to_uint8([Image.fromarray(a) for a in array])
    assert np.array_equal(from_pil, array)
    with pytest.raises(ValueError, match="same size"):
        frames_to_uint8([Image.new("RGB", (8, 8)), Image.new("RGB", (9, 8))])
    with pytest.raises(ValueError, match="empty"):
        frames_to_uint8([])


@pytest.mark.parametrize(("even_size", "expected_wh"), [("pad", (34, 32)), ("crop", (32, 30))])
def test_mp4_is_h264_yuv420p_with_even_size(tmp_path, even_size, expected_wh):
    frames = _moving_frames()
    path = write_video(frames, tmp_path / "out.mp4", fps=30, even_size=even_size)
    assert path == tmp_path / "out.mp4" and path.stat().st_size > 0
    assert _leftovers(tmp_path) == []
    info = video_info(path)
    assert (info.num_frames, info.width, info.height) == (6, *expected_wh)
    assert info.fps == pytest.approx(30.0)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    reader.close()
    assert meta["codec"] == "h264"
    decoded = read_video(path)
    assert decoded.shape == (6, expected_wh[1], expected_wh[0], 3)
    original = frames_to_uint8(frames)[:, :30, :32].astype(np.float32)
    assert np.abs(decoded[:, :30, :32].astype(np.float32) - original).mean() < 6.0  # lossy but faithful
    assert not np.array_equal(decoded[0], decoded[-1])  # the square moved


def test_empty_encoder_output_raises_and_leaves_old_file_alone(tmp_path, monkeypatch):
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"previous video")
    # Skip the even-size fix: libx264 then refuses the odd frames and imageio-ffmpeg writes 0 bytes without raising.
    monkeypatch.setattr(video_module, "_make_even", lambda frames, even_size: frames)
    with pytest.raises(VideoWriteError, match="empty file"):
        write_video(_moving_frames(), target)
    assert target.read_bytes() == b"previous video"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_gif_and_webp_loop_forever_at_the_requested_rate(tmp_path, suffix):
    path = write_video(_moving_frames(), tmp_path / f"loop{suffix}", fps=25)
    with Image.open(path) as image:
        assert image.info["loop"] == 0
        assert image.n_frames == 6
    info = video_info(path)
    assert (info.num_frames, info.width, info.height) == (6, 33, 31)  # loops keep odd sizes
    assert info.fps == pytest.approx(25.0, rel=0.05)
    decoded = read_video(path)
    assert decoded.shape == (6, 31, 33, 3)
    assert decoded[0, 10, 5].min() > 230 and decoded[-1, 10, 5].max() < 230


def test_gif_warns_when_the_frame_rate_is_too_high_for_browsers(tmp_path):
    with pytest.warns(UserWarning, match="20 ms"):
        write_video(_moving_frames(2), tmp_path / "fast.gif", fps=60)
    assert video_info(tmp_path / "fast.gif").fps == pytest.approx(50.0)


@pytest.mark.parametrize(("noise", "tolerance"), [(0, 0.5), (12, 4.0)])
def test_gif_shares_one_palette_that_keeps_every_frames_colours(tmp_path, noise, tolerance):
    # 40 frames of 20 flat colours (each twice, never neighbours, so none merge) over a grey gradient band. Without
    # noise there are < 256 colours and all are kept exactly; with noise the octree palette must still hold every
    # frame's colour, even one seen in only two frames.
    rng = np.random.default_rng(0)
    hues = np.linspace(0, 255, 20).astype(int)
    colours = np.stack([hues, 255 - hues, np.roll(hues, 7)], axis=1)
    frames = np.empty((40, 48, 64, 3), np.uint8)
    for index in range(40):
        jitter = rng.integers(-noise, noise + 1, (48, 64, 3))
        frames[index] = np.clip(colours[(index * 7) % 20] + jitter, 0, 255)
        frames[index, 40:] = np.linspace(0, 255, 64).astype(np.uint8)[:, None]
    path = write_video(frames, tmp_path / "colours.gif", fps=10)
    info = video_info(path)
    assert (info.num_frames, info.width, info.height) == (40, 64, 48)
    decoded = read_video(path).astype(np.float32)
    assert decoded.shape == frames.shape
    mean_colour_error = np.abs(decoded[:, :40].mean(axis=(1, 2)) - frames[:, :40].mean(axis=(1, 2)))  # (T, 3)
    assert mean_colour_error.max() < tolerance  # dithering averages back to each frame's colour
    assert np.abs(decoded - frames).mean() < 2 * tolerance


def test_png_frames_to_folder_pattern_and_plain_name(tmp_path):
    frames = _moving_frames(4)
    folder = write_video(frames, tmp_path / "frames")
    assert sorted(p.name for p in folder.iterdir()) == [f"{i:05d}.png" for i in range(4)]
    assert np.array_equal(read_video(folder), frames_to_uint8(frames))  # PNG is lossless
    assert video_info(folder) == video_module.VideoInfo(num_frames=4, width=33, height=31, fps=None)

    write_video(frames[:2], tmp_path / "frames")  # a shorter rerun must not leave frames 2-3 of the old video
    assert sorted(p.name for p in folder.iterdir()) == ["00000.png", "00001.png"]

    write_video(frames, tmp_path / "seq" / "f_%03d.png")
    assert (tmp_path / "seq" / "f_003.png").is_file()
    assert read_video(tmp_path / "seq" / "f_%03d.png").shape == (4, 31, 33, 3)
    write_video(frames, tmp_path / "plain" / "shot.png")
    assert (tmp_path / "plain" / "shot_00003.png").is_file()
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "seq") == []


def test_png_frames_in_the_current_folder_and_in_an_existing_folder_with_a_dot(tmp_path, monkeypatch):
    """Frames are staged inside a folder that exists: the current folder's parent may be '/' (not writable), and
    '.' has no name to put a hidden sibling beside."""
    frames = _moving_frames(3)
    monkeypatch.chdir(tmp_path)
    assert write_video(frames, "shot.png") == Path("shot.png")
    assert write_video(frames[:2], ".") == Path(".")
    (tmp_path / "run.v2").mkdir()
    assert write_video(frames, "run.v2") == Path("run.v2")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".png") == [
        "00000.png",
        "00001.png",
        *[f"shot_{i:05d}.png" for i in range(3)],
    ]
    assert len(list((tmp_path / "run.v2").iterdir())) == 3 and _leftovers(tmp_path) == []


def test_unwritable_folder_and_unknown_extension_give_clear_errors(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(VideoWriteError, match="cannot be created.*Choose another output path"):
        write_video(_moving_frames(2), blocker / "out.mp4")
    with pytest.raises(ValueError, match=r"\.mp4, \.gif, \.webp or \.png"):
        write_video(_moving_frames(2), tmp_path / "out.avi")
    with pytest.raises(ValueError, match="fps"):
        write_video(_moving_frames(2), tmp_path / "out.mp4", fps=0)
    with pytest.raises(ValueError, match="fps must be a positive number, got inf"):
        write_video(_moving_frames(2), tmp_path / "out.mp4", fps=float("inf"))
    with pytest.raises(ValueError, match="GIF frames last at most 655.35 s"):
        write_video(_moving_frames(2), tmp_path / "out.gif", fps=0.001)
    with pytest.raises(VideoWriteError, match="cannot be created"):
        check_video_path(blocker / "frames" / "f.png")  # the same checks, before any frame is rendered
    with pytest.raises(FileNotFoundError):
        read_video(tmp_path / "missing.mp4")


def test_tile_videos_side_by_side_with_still_broadcast():
    left = _moving_frames(5, 16, 10)
    right = torch.zeros(5, 3, 16, 7)
    still = torch.ones(3, 16, 4)
    tiled = tile_videos([left, right, still])
    assert tiled.shape == (5, 3, 16, 21)
    assert torch.equal(tiled[..., :10], left) and torch.equal(tiled[..., 10:17], right)
    assert (tiled[..., 17:] == 1).all()
    with pytest.raises(ValueError, match="same height"):
        tile_videos([left, torch.zeros(5, 3, 15, 10)])


def test_long_frame_lists_stream_to_mp4_and_keep_every_frame(tmp_path):
    from deeplandscape_hf.animation.video import MP4_CHUNK

    count = MP4_CHUNK * 2 + 3  # several chunks and a partial one
    frames = [Image.new("RGB", (33, 20), (index * 7 % 256, 90, 160)) for index in range(count)]
    path = write_video(frames, tmp_path / "long.mp4", fps=24)
    decoded = read_video(path)
    assert decoded.shape == (count, 20, 34, 3)  # odd width padded
    assert abs(int(decoded[-1, 5, 5, 0]) - frames[-1].getpixel((5, 5))[0]) < 8
    frames[MP4_CHUNK + 1] = Image.new("RGB", (32, 20))
    with pytest.raises(ValueError, match=f"frame {MP4_CHUNK + 1} is 32x20"):
        write_video(frames, tmp_path / "mixed.mp4")
    assert _leftovers(tmp_path) == []
