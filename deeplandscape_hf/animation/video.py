"""Video output: H.264 mp4 that browsers play, GIF/WebP loops, numbered PNG frames; plus readers for tests and metrics.

The authors wrote MJPG `.avi` at 30 fps, which browsers cannot
play; we write H.264 (libx264, yuv420p) through imageio-ffmpeg's bundled binary (this machine has no system ffmpeg,
so Gradio cannot transcode for us). libx264 with yuv420p needs even width and height, and imageio-ffmpeg with
`macro_block_size=1` writes an EMPTY file without raising on odd sizes, so we make sizes even first and check the
result. Every writer is atomic: it writes a hidden temporary next to the target and renames it into place.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageSequence

__all__ = [
    "DEFAULT_FPS",
    "VideoInfo",
    "VideoWriteError",
    "check_video_path",
    "frames_to_uint8",
    "read_video",
    "tile_videos",
    "video_info",
    "write_video",
]

logger = logging.getLogger(__name__)

DEFAULT_FPS = 30  # official configs: `video_kwargs.fps: 30`
DEFAULT_QUALITY = 7  # 1..10; mp4: libx264 CRF 15 (imageio-ffmpeg maps q -> int((1 - q/10) * 51)); WebP: 70
GIF_MIN_FRAME_MS = 20  # browsers show GIF delays below 20 ms as 100 ms, i.e. 5x too slow
GIF_MAX_FRAME_MS = 655_350  # a GIF frame's delay is stored as a 16-bit count of hundredths of a second
MP4_CHUNK = 16  # frames converted to one uint8 array at a time on their way to the H.264 encoder
GIF_PALETTE_PIXELS = 1_000_000  # the shared GIF palette sees at most this many pixels: its cost stays flat
PNG_FRAME_PATTERN = "{:05d}.png"  # official `save_frames_as_jpg` used `{i:05d}.jpg`
VIDEO_SUFFIXES = (".mp4",)
LOOP_SUFFIXES = (".gif", ".webp")
FFMPEG_READ_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm")

VideoFrames = torch.Tensor | np.ndarray | Sequence[Image.Image] | Sequence[np.ndarray]


class VideoWriteError(OSError):
    """The video could not be written (unwritable folder, encoder failure, empty output)."""


@dataclass(frozen=True)
class VideoInfo:
    """What a reader can tell about a video without decoding it into memory. `fps` is None for PNG folders."""

    num_frames: int
    width: int
    height: int
    fps: float | None


# ----------------------------------------------------------------------------------------------------------------------
# Frames


def frames_to_uint8(frames: VideoFrames) -> np.ndarray:
    """Any frame container -> contiguous uint8 array (T, H, W, 3).

    Accepts a float tensor or array (T, 3, H, W) or (3, H, W) in [-1, 1] (the library convention; values outside
    are clipped), a uint8 array (T, H, W, 3), or a list of PIL images / uint8 (H, W, 3) arrays of one size.
    """
    if isinstance(frames, np.ndarray) and frames.dtype == np.uint8:
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"uint8 frames must have shape (T, H, W, 3), got {frames.shape}.")
        return np.ascontiguousarray(frames)
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(frames)
    if isinstance(frames, torch.Tensor):
        if frames.dim() == 3:
            frames = frames.unsqueeze(0)
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"Float frames must have shape (T, 3, H, W) in [-1, 1], got {tuple(frames.shape)}.")
        if not frames.is_floating_point():
            raise ValueError(f"Tensor frames must be float in [-1, 1], got dtype {frames.dtype}.")
        uint8 = ((frames.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
        return np.ascontiguousarray(uint8.permute(0, 2, 3, 1).numpy())
    if isinstance(frames, Sequence) and not isinstance(frames, (str, bytes)):
        if len(frames) == 0:
            raise ValueError("No frames to write: the frame list is empty.")
        arrays = []
        for index, frame in enumerate(frames):
            if isinstance(frame, Image.Image):
                array = np.asarray(frame.convert("RGB"), dtype=np.uint8)
            elif isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3:
                array = frame
            else:
                raise ValueError(
                    f"Frame {index} is a {type(frame).__name__}; use PIL images or uint8 (H, W, 3) arrays."
                )
            if arrays and array.shape != arrays[0].shape:
                raise ValueError(
                    f"All frames must have the same size: frame 0 is {arrays[0].shape[1]}x{arrays[0].shape[0]}, "
                    f"frame {index} is {array.shape[1]}x{array.shape[0]}."
                )
            arrays.append(array)
        return np.ascontiguousarray(np.stack(arrays))
    raise ValueError(f"Cannot make video frames from a {type(frames).__name__}.")


def _make_even(frames: np.ndarray, even_size: Literal["pad", "crop"]) -> np.ndarray:
    """Pad (replicating the edge pixels) or crop one row/column so that H and W are even, as yuv420p requires."""
    _, height, width, _ = frames.shape
    extra_h, extra_w = height % 2, width % 2
    if not (extra_h or extra_w):
        return frames
    if even_size == "pad":
        padded = np.pad(frames, ((0, 0), (0, extra_h), (0, extra_w), (0, 0)), mode="edge")
        return np.ascontiguousarray(padded)
    if even_size == "crop":
        if height < 2 or width < 2:
            raise ValueError(
                f"Frames of {width}x{height} px are too small to crop to an even size; use even_size='pad'."
            )
        return np.ascontiguousarray(frames[:, : height - extra_h, : width - extra_w])
    raise ValueError(f"even_size must be 'pad' or 'crop', got {even_size!r}.")


def tile_videos(videos: Sequence[torch.Tensor]) -> torch.Tensor:
    """Place videos side by side: N tensors (T, 3, H, W) -> (T, 3, H, N*W) (widths may differ).

    A still image, (3, H, W) or (1, 3, H, W), is repeated over time, so `[input photo | result]` comparisons work.
    """
    if len(videos) == 0:
        raise ValueError("tile_videos needs at least one video.")
    clips = [video.unsqueeze(0) if video.dim() == 3 else video for video in videos]
    for index, clip in enumerate(clips):
        if clip.dim() != 4 or clip.shape[1] != 3:
            raise ValueError(f"Video {index} must have shape (T, 3, H, W) or (3, H, W), got {tuple(clip.shape)}.")
    num_frames = max(clip.shape[0] for clip in clips)
    heights = {clip.shape[2] for clip in clips}
    if len(heights) != 1:
        raise ValueError(f"Videos must have the same height to be tiled, got heights {sorted(heights)}.")
    for index, clip in enumerate(clips):
        if clip.shape[0] not in (1, num_frames):
            raise ValueError(f"Video {index} has {clip.shape[0]} frames; expected {num_frames} (or 1 for a still).")
    return torch.cat([clip.expand(num_frames, -1, -1, -1) for clip in clips], dim=3)


# ----------------------------------------------------------------------------------------------------------------------
# Writing


def _is_frame_pattern(name: str) -> bool:
    return bool(re.search(r"%0?\d*d|\{[^}]*\}", name))


def _frame_name(pattern: str, index: int) -> str:
    if "%" in pattern:
        return pattern % index
    return pattern.format(index)


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A regex matching every name `pattern` can produce, capturing the number."""
    parts = re.split(r"(%0?\d*d|\{[^}]*\})", pattern)
    return re.compile("".join(r"(\d+)" if i % 2 else re.escape(part) for i, part in enumerate(parts)) + r"\Z")


def _prepare_folder(folder: Path, target: Path) -> None:
    """Create the output folder, or fail with a sentence saying what to do."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise VideoWriteError(
            f"Cannot write '{target}': the folder '{folder}' cannot be created ({error.strerror or error}). "
            "Choose another output path."
        ) from error
    try:  # a file really created, where permission bits alone miss read-only mounts and pseudo file systems
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as error:
        raise VideoWriteError(
            f"Cannot write '{target}': the folder '{folder}' is not writable ({error.strerror or error}). "
            "Choose another output path."
        ) from error


def _temporary_sibling(target: Path, suffix: str = "") -> Path:
    """A hidden, unique name in the target's folder: the final os.replace is then a same-filesystem rename."""
    return target.with_name(f".{target.stem}.{secrets.token_hex(4)}.partial{suffix}")


def _uint8_chunks(frames: VideoFrames, even_size: Literal["pad", "crop"]) -> Iterator[np.ndarray]:
    """Even-sized uint8 chunks (t, H, W, 3) of ``frames``. A list of frames is converted MP4_CHUNK at a time, so a
    long full-HD video held as PIL images is never copied whole into one array on its way to the encoder."""
    if isinstance(frames, Sequence) and not isinstance(frames, (str, bytes)) and len(frames) > MP4_CHUNK:
        sizes = [frame.size if isinstance(frame, Image.Image) else np.shape(frame)[1::-1] for frame in frames]
        odd = next((index for index, size in enumerate(sizes) if size != sizes[0]), None)
        if odd is not None:
            raise ValueError(
                f"All frames must have the same size: frame 0 is {sizes[0][0]}x{sizes[0][1]}, "
                f"frame {odd} is {sizes[odd][0]}x{sizes[odd][1]}."
            )
        for start in range(0, len(frames), MP4_CHUNK):
            yield _make_even(frames_to_uint8(frames[start : start + MP4_CHUNK]), even_size)
    else:
        yield _make_even(frames_to_uint8(frames), even_size)


def _write_mp4(chunks: Iterable[np.ndarray], path: Path, fps: float, quality: int) -> tuple[int, int, int]:
    """Encode the chunks as one H.264 stream; returns (frames, width, height)."""
    import imageio_ffmpeg

    iterator = iter(chunks)
    first = next(iterator)
    _, height, width, _ = first.shape
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        quality=quality,
        codec="libx264",
        pix_fmt_in="rgb24",
        pix_fmt_out="yuv420p",  # the only chroma layout every browser decodes
        macro_block_size=1,  # we made the size even ourselves; 16 would rescale the frames
        ffmpeg_log_level="error",
        output_params=["-movflags", "+faststart"],  # index first: browsers start playing before the download ends
    )
    writer.send(None)
    count = 0
    try:
        for chunk in itertools.chain([first], iterator):
            for frame in chunk:
                writer.send(frame)
                count += 1
    finally:
        writer.close()
    return count, width, height


def _pil_frames(frames: np.ndarray) -> list[Image.Image]:
    return [Image.fromarray(frame) for frame in frames]


def _shared_gif_palette(frames: np.ndarray) -> Image.Image:
    """One 256-colour palette for the whole video, from every frame.

    Quantising every frame on its own is ~45x slower (20 s instead of 0.4 s for 60 frames) and makes still regions
    flicker, as each frame gets slightly different colours. Every frame contributes (a colour seen in one frame only
    still gets an entry), with its pixels subsampled by a stride rather than resized: the palette is then built from
    colours that really occur, not from blends.
    """
    count, height, width, _ = frames.shape
    stride = max(1, int(np.ceil(np.sqrt(count * height * width / GIF_PALETTE_PIXELS))))
    samples = frames[:, ::stride, ::stride]
    montage = Image.fromarray(np.ascontiguousarray(samples.reshape(-1, samples.shape[2], 3)))
    exact = montage.getcolors(256)
    if exact is not None:  # few colours (flat art, test patterns): keep them exactly, octree would merge them
        palette = Image.new("P", (1, 1))
        palette.putpalette([channel for _, colour in exact for channel in colour])
        return palette
    return montage.quantize(colors=256, method=Image.Quantize.FASTOCTREE)  # fastest, and best on photos here


def _write_gif(frames: np.ndarray, path: Path, fps: float) -> None:
    duration_ms = 1000.0 / fps
    if duration_ms < GIF_MIN_FRAME_MS:
        warnings.warn(
            f"GIF cannot play {fps:g} fps: browsers slow frames shorter than {GIF_MIN_FRAME_MS} ms to 100 ms. "
            f"Writing {1000 / GIF_MIN_FRAME_MS:g} fps instead; use mp4 for higher frame rates.",
            UserWarning,
            stacklevel=3,
        )
        duration_ms = GIF_MIN_FRAME_MS
    palette = _shared_gif_palette(frames)
    images = [Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG) for frame in frames]
    images[0].save(
        path, format="GIF", save_all=True, append_images=images[1:], duration=round(duration_ms), loop=0, disposal=1
    )


def _write_webp(frames: np.ndarray, path: Path, fps: float, quality: int) -> None:
    images = _pil_frames(frames)
    images[0].save(
        path,
        format="WEBP",
        save_all=True,
        append_images=images[1:],
        duration=max(1, round(1000.0 / fps)),
        loop=0,
        quality=quality * 10,
        method=4,
    )


def _write_png_frames(frames: np.ndarray, folder: Path, pattern: str) -> None:
    """Write numbered PNGs into a temporary folder, then move them into `folder` in one go.

    Numbered frames of an earlier, longer run that the new sequence does not overwrite are removed, so a reader of
    the folder never sees a mix of two videos.
    """
    # Staged inside a folder that exists (its parent may be '/' or not writable), beside one that does not.
    staging = folder / f".{secrets.token_hex(4)}.partial" if folder.is_dir() else _temporary_sibling(folder)
    staging.mkdir()
    try:
        for index, frame in enumerate(frames):
            Image.fromarray(frame).save(staging / _frame_name(pattern, index), format="PNG", compress_level=1)
        if not folder.exists():
            os.replace(staging, folder)
            return
        regex = _pattern_regex(pattern)
        for old in folder.iterdir():
            match = regex.match(old.name)
            if match and int(match.group(1)) >= len(frames) and old.is_file():
                old.unlink()
        for new in staging.iterdir():
            os.replace(new, folder / new.name)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


@dataclass(frozen=True)
class _Destination:
    """Where `write_video` puts a video: a file (``suffix`` .mp4/.gif/.webp) or numbered PNGs named by ``pattern``
    in ``folder``."""

    target: Path
    suffix: str
    folder: Path
    pattern: str | None = None  # set for PNG frames


def _destination(path: str | os.PathLike, fps: float) -> _Destination:
    """Read what `write_video` is asked to write, or raise ValueError for a format or fps it cannot write."""
    target = Path(path)
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, got {fps}.")
    suffix = target.suffix.lower()
    is_folder = suffix == "" or str(path).endswith(("/", os.sep)) or target.is_dir()
    if is_folder:
        return _Destination(target, "", target, PNG_FRAME_PATTERN)
    if suffix == ".png":
        pattern = target.name if _is_frame_pattern(target.name) else f"{target.stem}_{{:05d}}.png"
        return _Destination(target, suffix, target.parent, pattern)
    if suffix not in VIDEO_SUFFIXES + LOOP_SUFFIXES:
        raise ValueError(
            f"Cannot tell which format to write for '{target}'. Use a name ending in .mp4, .gif, .webp or .png, "
            "or a folder name for numbered PNG frames."
        )
    if suffix == ".gif" and 1000.0 / fps > GIF_MAX_FRAME_MS:
        raise ValueError(
            f"GIF frames last at most {GIF_MAX_FRAME_MS / 1000:g} s, so fps must be at least "
            f"{1000 / GIF_MAX_FRAME_MS:.3f}, got {fps:g}."
        )
    return _Destination(target, suffix, target.parent)


def check_video_path(path: str | os.PathLike, fps: float = DEFAULT_FPS) -> None:
    """Fail now, as `write_video` would later, when a video cannot be written to ``path`` at ``fps``: an unknown
    format, a bad fps, or a folder that cannot be created or written. Creates the folder (it is needed anyway), so
    minutes of rendering are not lost to a typo in the output path."""
    destination = _destination(path, fps)
    if destination.pattern is not None and destination.suffix == "":  # a folder of frames: its parent must exist
        _prepare_folder(destination.folder.parent, destination.target)
        if destination.folder.exists() and not destination.folder.is_dir():
            raise VideoWriteError(f"Cannot write frames into '{destination.folder}': it is a file, not a folder.")
    else:
        _prepare_folder(destination.folder, destination.target)


def write_video(
    frames: VideoFrames,
    path: str | os.PathLike,
    fps: float = DEFAULT_FPS,
    quality: int = DEFAULT_QUALITY,
    even_size: Literal["pad", "crop"] = "pad",
) -> Path:
    """Write frames to `path`, choosing the format by its extension, atomically; returns the written path.

    - `.mp4`: H.264 (libx264, yuv420p, `+faststart`) that browsers play. Odd sizes are padded by one edge row or
      column (`even_size="pad"`, nothing is lost) or cropped (`"crop"`).
    - `.gif` / `.webp`: endless loops (Pillow, `loop=0`), frame duration 1000/fps ms. Both encoders merge identical
      consecutive frames into one longer frame, so a reader may count fewer frames than were written.
    - a folder (no extension, or an existing folder) or a `.png` name: numbered PNG frames. `frames/` gives
      `frames/00000.png`...; `out/f_%04d.png` or `out/f_{:04d}.png` follow the pattern; a plain `out/f.png` gives
      `out/f_00000.png`...

    `quality` runs from 1 (smallest) to 10 (best): libx264 CRF int((1 - q/10) * 51), WebP quality 10 q; GIF and
    PNG are lossless apart from GIF's 256-colour palette (one for all frames, dithered). No half-written file is
    ever left at `path`. `check_video_path` makes the same checks without frames, before they are rendered.

    Raises:
        ValueError: unknown extension, bad fps/quality, or frames of the wrong shape.
        VideoWriteError: the folder cannot be created or written, or the encoder produced an empty file.
    """
    destination = _destination(path, fps)
    target, suffix = destination.target, destination.suffix
    if not (isinstance(quality, int) and 1 <= quality <= 10):
        raise ValueError(f"quality must be an integer from 1 to 10, got {quality!r}.")
    if destination.pattern is not None:
        uint8 = frames_to_uint8(frames)
        check_video_path(path, fps)
        try:
            _write_png_frames(uint8, destination.folder, destination.pattern)
        except OSError as error:
            raise VideoWriteError(f"Writing PNG frames to '{destination.folder}' failed: {error}.") from error
        return destination.folder if suffix == "" else target

    _prepare_folder(target.parent, target)
    temporary = _temporary_sibling(target, suffix)
    try:
        if suffix == ".mp4":  # streamed chunk by chunk: no second copy of a long video in memory
            count, width, height = _write_mp4(_uint8_chunks(frames, even_size), temporary, fps, quality)
        else:
            uint8 = frames_to_uint8(frames)
            count, height, width = uint8.shape[:3]
            if suffix == ".gif":
                _write_gif(uint8, temporary, fps)
            else:
                _write_webp(uint8, temporary, fps, quality)
        if not temporary.exists() or temporary.stat().st_size == 0:
            raise VideoWriteError(
                f"The encoder wrote an empty file for '{target}' ({width}x{height}, {count} frames). Nothing was "
                "saved; see the ffmpeg messages above."
            )
        os.replace(temporary, target)
    except VideoWriteError:
        raise
    except (OSError, RuntimeError) as error:
        raise VideoWriteError(f"Writing '{target}' failed: {error}.") from error
    finally:
        if temporary.exists():
            temporary.unlink()
    logger.info("wrote %s (%d frames, %dx%d)", target, count, width, height)
    return target


# ----------------------------------------------------------------------------------------------------------------------
# Reading


def _png_frame_paths(path: Path) -> list[Path]:
    """The numbered frames a folder or pattern refers to, in numeric order (an error when there are none)."""
    if path.is_dir():
        folder, regex = path, re.compile(r"(\d+)\.(?:png|jpe?g)\Z", re.IGNORECASE)
        search = regex.search
    else:
        folder = path.parent
        regex = _pattern_regex(path.name if _is_frame_pattern(path.name) else f"{path.stem}_{{:05d}}.png")
        search = regex.match
    candidates = folder.iterdir() if folder.is_dir() else []
    matches = [(p, m) for p in candidates if (m := search(p.name)) and p.is_file()]
    files = [p for p, m in sorted(matches, key=lambda item: int(item[1].group(1)))]
    if not files:
        raise FileNotFoundError(f"No numbered PNG frames found for '{path}'.")
    return files


def _require_exists(path: Path) -> None:
    if not path.exists() and not (path.suffix.lower() == ".png" and path.parent.is_dir()):
        raise FileNotFoundError(f"'{path}' does not exist.")


def read_video(path: str | os.PathLike) -> np.ndarray:
    """Decode a video written by `write_video` (or any ffmpeg-readable file) to uint8 (T, H, W, 3)."""
    path = Path(path)
    _require_exists(path)
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".png":
        files = _png_frame_paths(path)
        return np.stack([np.asarray(Image.open(file).convert("RGB")) for file in files])
    if suffix in LOOP_SUFFIXES:
        with Image.open(path) as image:
            return np.stack([np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)])
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(frame, dtype=np.uint8).reshape(height, width, 3) for frame in reader]
    if not frames:
        raise ValueError(f"'{path}' contains no video frames.")
    return np.stack(frames)


def video_info(path: str | os.PathLike) -> VideoInfo:
    """Frame count, size and frame rate of a video, GIF/WebP loop or PNG frame folder."""
    path = Path(path)
    _require_exists(path)
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".png":
        files = _png_frame_paths(path)
        with Image.open(files[0]) as first:
            return VideoInfo(num_frames=len(files), width=first.width, height=first.height, fps=None)
    if suffix in LOOP_SUFFIXES:
        with Image.open(path) as image:
            durations = []
            for frame in ImageSequence.Iterator(image):
                frame.load()  # WebP sets a frame's duration only once it is decoded
                durations.append(frame.info.get("duration", 0))
            mean_ms = float(np.mean(durations)) if durations else 0.0
            return VideoInfo(
                num_frames=len(durations),
                width=image.width,
                height=image.height,
                fps=1000.0 / mean_ms if mean_ms > 0 else None,
            )
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
    finally:
        reader.close()
    num_frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    width, height = meta["size"]
    return VideoInfo(num_frames=int(num_frames), width=int(width), height=int(height), fps=float(meta["fps"]) or None)
