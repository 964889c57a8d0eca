"""Training data, first half: find photos and videos and cache them once per resolution.

Mirrors the official `prepare_data.py` (each image or frame resized so its shorter side equals the resolution),
paper Sec. 3.2. The cache format is ours: one uint8 ``.npy`` per item and resolution plus ``manifest.json``,
memory-mapped when training; no LMDB, no pickles. :mod:`.datasets` serves the sample streams read from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp")  # matched case-insensitively
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".webm", ".mov", ".avi", ".mkv")
DEFAULT_RESOLUTIONS: tuple[int, ...] = (8, 16, 32, 64, 128, 256)  # official prepare_data.py --sizes
DEFAULT_MAX_FRAMES_PER_VIDEO = 256  # Ours: frames kept per video, evenly spread over the clip. Official: all frames.
MANIFEST_NAME = "manifest.json"
CACHE_FORMAT = "deeplandscape-hf-cache"
CACHE_VERSION = 1
MIN_FRAMES_PER_VIDEO = 2  # a pair needs two distinct frames
_TMP_MARK = ".tmp-"  # temporary files are hidden (leading dot) and carry this mark until renamed
_EXIF_ORIENTATION = 0x0112
_EXIF_SWAPS_AXES = (5, 6, 7, 8)  # orientations that rotate by 90 degrees


# ------------------------------------------------------------------------------------------------------ discovery
@dataclass(frozen=True)
class VideoSource:
    """One video: a video file, or a folder of frames (``frames`` lists its frame files in playback order)."""

    path: Path
    frames: tuple[Path, ...] = ()

    @property
    def is_frame_folder(self) -> bool:
        return bool(self.frames)


def _natural_key(name: str) -> list[Any]:
    """Sort key where frame_2 < frame_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _has_ext(name: str, extensions: Sequence[str]) -> bool:
    return name.lower().endswith(tuple(extensions))


def _walk(root: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    """os.walk in sorted order, skipping hidden files and folders (including our temporary files)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted((d for d in dirnames if not d.startswith(".")), key=_natural_key)
        yield Path(dirpath), dirnames, sorted((f for f in filenames if not f.startswith(".")), key=_natural_key)


def find_images(root: PathLike) -> list[Path]:
    """All images under ``root``, recursively: IMAGE_EXTENSIONS in any case, sorted, hidden files skipped."""
    return [d / f for d, _, files in _walk(Path(root)) for f in files if _has_ext(f, IMAGE_EXTENSIONS)]


def find_videos(root: PathLike) -> list[VideoSource]:
    """All videos under ``root``, recursively, sorted.

    A video is either a file with one of VIDEO_EXTENSIONS (any case), or a *frame folder*: a folder (``root``
    included) that directly holds at least 2 image files and no video file. Its frames are those image files in
    natural order (frame_2 before frame_10); its subfolders are examined on their own, never merged into it.
    """
    videos: list[VideoSource] = []
    for folder, _, files in _walk(Path(root)):
        video_files = [folder / f for f in files if _has_ext(f, VIDEO_EXTENSIONS)]
        image_files = [folder / f for f in files if _has_ext(f, IMAGE_EXTENSIONS)]
        videos.extend(VideoSource(p) for p in video_files)
        if not video_files and len(image_files) >= MIN_FRAMES_PER_VIDEO:
            videos.append(VideoSource(folder, tuple(image_files)))
    return sorted(videos, key=lambda v: _natural_key(str(v.path)))


# ---------------------------------------------------------------------------------------------------- decoding
def resized_shape(height: int, width: int, resolution: int) -> tuple[int, int]:
    """(H, W) after resizing the shorter side to ``resolution``; the long side is truncated like torchvision's
    ``Resize(int)``, which the official prepare_data.py used."""
    if height <= width:
        return resolution, max(resolution, int(resolution * width / height))
    return max(resolution, int(resolution * height / width)), resolution


def _resize(image: Image.Image, resolution: int) -> np.ndarray:
    height, width = resized_shape(image.height, image.width, resolution)
    if (height, width) != (image.height, image.width):
        image = image.resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8)


def _resize_all(image: Image.Image, resolutions: Sequence[int]) -> dict[int, np.ndarray]:
    """The image at every resolution: the largest from the source, each smaller one from that largest copy."""
    largest = max(resolutions)
    out = {largest: _resize(image, largest)}
    if len(resolutions) > 1:
        base = Image.fromarray(out[largest])
        out.update({r: _resize(base, r) for r in resolutions if r != largest})
    return out


def _open_image(path: Path, min_side: int) -> Image.Image:
    """Decode an image as RGB, upright per EXIF; JPEG decoding is reduced (draft) while both sides stay >= min_side."""
    with Image.open(path) as image:
        image.draft("RGB", (min_side, min_side))
        image = ImageOps.exif_transpose(image)
        return image.convert("RGB")


def _upright_size(path: Path) -> tuple[int, int]:
    """(width, height) as displayed (EXIF rotation applied), read from the header only."""
    with Image.open(path) as image:
        width, height = image.size
        if image.getexif().get(_EXIF_ORIENTATION, 1) in _EXIF_SWAPS_AXES:
            width, height = height, width
    return width, height


class _UnusableInputError(Exception):
    """An input that cannot be used; ``category`` groups the summary counts."""

    def __init__(self, category: str, reason: str):
        super().__init__(reason)
        self.category = category


def _select_evenly(count: int, max_frames: int | None) -> list[int]:
    if max_frames is None or count <= max_frames:
        return list(range(count))
    return sorted(set(np.round(np.linspace(0, count - 1, max_frames)).astype(int).tolist()))


def _decode_video_file(path: Path, largest: int, max_frames: int | None) -> tuple[list[np.ndarray], float | None]:
    """Decode a video once; keep at most ``max_frames`` frames spread evenly over the whole clip, at ``largest``.

    The frame count is not trusted from metadata: frames are kept at a stride that doubles whenever 2 x max_frames
    are held, so memory stays bounded for any clip length and the kept frames stay evenly spaced.
    """
    import imageio_ffmpeg

    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = next(reader)
    except Exception as exc:  # any ffmpeg failure here means an unreadable file
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
        raise _UnusableInputError("unreadable", f"cannot open video: {message}") from exc
    kept: list[np.ndarray] = []
    stride = 1
    try:
        width, height = meta["size"]
        if abs(int(meta.get("rotate", 0) or 0)) % 180 == 90:  # ffmpeg auto-rotates the decoded frames
            width, height = height, width
        for index, frame_bytes in enumerate(reader):
            if index % stride:
                continue
            frame = np.frombuffer(frame_bytes, np.uint8)
            if frame.size != width * height * 3:
                raise _UnusableInputError(
                    "unreadable", f"frame {index} has {frame.size} bytes, expected {width}x{height}x3"
                )
            kept.append(_resize(Image.fromarray(frame.reshape(height, width, 3)), largest))
            if max_frames is not None and len(kept) >= 2 * max_frames:
                kept = kept[::2]
                stride *= 2
    except _UnusableInputError:
        raise
    except Exception as exc:  # truncated or corrupt stream
        if len(kept) < MIN_FRAMES_PER_VIDEO:
            raise _UnusableInputError("unreadable", f"cannot decode video: {exc}") from exc
        logger.warning("%s: decoding stopped after an error (%s); keeping %d frames", path, exc, len(kept))
    finally:
        reader.close()
    kept = [kept[i] for i in _select_evenly(len(kept), max_frames)]
    fps = float(meta.get("fps") or 0.0) or None
    return kept, fps


def _decode_frame_folder(source: VideoSource, largest: int, max_frames: int | None) -> list[np.ndarray]:
    """Read the selected frames of a frame folder, resized as they come (memory holds only cached-size frames)."""
    frames: list[np.ndarray] = []
    first_size = None
    for i in _select_evenly(len(source.frames), max_frames):
        try:
            size = _upright_size(source.frames[i])
            image = _open_image(source.frames[i], largest)
        except Exception as exc:  # any decoder error: the folder cannot be used as one video
            raise _UnusableInputError("unreadable", f"cannot read frame {source.frames[i].name}: {exc}") from exc
        first_size = first_size or size
        if size != first_size:
            raise _UnusableInputError(
                "mismatched_frame_sizes", f"frame {source.frames[i].name} is {size}, the first frame {first_size}"
            )
        frames.append(_resize(image, largest))
    return frames


# ------------------------------------------------------------------------------------------------------ caching
@dataclass
class SkippedItem:
    """An input left out of the cache, and why."""

    source: str
    kind: Literal["image", "video"]
    category: str  # "unreadable", "too_few_frames" or "mismatched_frame_sizes"
    reason: str


# How a skip category reads in a sentence ("3 shorter than 2 frames").
_CATEGORY_PHRASES = {
    "unreadable": "unreadable",
    "too_few_frames": f"shorter than {MIN_FRAMES_PER_VIDEO} frames",
    "mismatched_frame_sizes": "with frames of different sizes",
}


class NoUsableInputError(ValueError):
    """Every input given was skipped: there is nothing to train on."""


@dataclass
class PrepareSummary:
    """What ``prepare_dataset`` cached: counts, reused items, and every skipped input with its reason."""

    out_dir: Path
    resolutions: tuple[int, ...]
    num_images: int = 0
    num_videos: int = 0
    num_video_frames: int = 0
    num_reused: int = 0  # items found already cached from an earlier run
    skipped: list[SkippedItem] = field(default_factory=list)

    @property
    def skipped_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.skipped:
            counts[item.category] = counts.get(item.category, 0) + 1
        return counts

    def all_skipped_message(self, kind: Literal["image", "video"]) -> str:
        """'all 12 videos were skipped: 9 unreadable, 3 shorter than 2 frames' (each has a warning of its own)."""
        counts: dict[str, int] = {}
        for item in self.skipped:
            if item.kind == kind:
                counts[item.category] = counts.get(item.category, 0) + 1
        total = sum(counts.values())
        reasons = ", ".join(f"{n} {_CATEGORY_PHRASES.get(category, category)}" for category, n in counts.items())
        every = "the only" if total == 1 else f"all {total}"
        noun = kind if total == 1 else f"{kind}s"
        verb = "was" if total == 1 else "were"
        return f"{every} {noun} {verb} skipped: {reasons}"

    def __str__(self) -> str:
        """One line of counts; each skipped input has had a warning of its own, so only their reasons are counted."""
        reasons = ", ".join(f"{n} {_CATEGORY_PHRASES.get(c, c)}" for c, n in self.skipped_counts.items())
        return (
            f"cache {self.out_dir} at {', '.join(map(str, self.resolutions))} px: {self.num_images} images, "
            f"{self.num_videos} videos ({self.num_video_frames} frames); {self.num_reused} reused, "
            f"{len(self.skipped)} skipped" + (f" ({reasons})" if reasons else "")
        )


def _as_dirs(dirs: PathLike | Sequence[PathLike] | None) -> list[Path]:
    if dirs is None:
        return []
    if isinstance(dirs, str | os.PathLike):
        return [Path(dirs)]
    return [Path(d) for d in dirs]


def _item_id(source: Path, root: Path, fingerprint: list[Any]) -> str:
    """Readable, unique, content-sensitive id: slug of the path under its root + hash of path, sizes, mtimes.

    A changed source (or a different max_frames_per_video) gets a new id, so a stale cached copy is never reused.
    """
    rel = source.relative_to(root) if source != root else Path(source.name)
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", str(rel.with_suffix("")) if source.is_file() else str(rel)).strip("_")
    digest = hashlib.sha1(json.dumps([str(source.resolve()), *fingerprint]).encode()).hexdigest()[:12]
    return f"{slug[-60:] or 'item'}-{digest}"


def _file_fingerprint(path: Path) -> list[Any]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def cache_path(cache_dir: PathLike, resolution: int, kind: Literal["images", "videos"], item_id: str) -> Path:
    """Where one cached array lives: ``<cache_dir>/<resolution>/<kind>/<item_id>.npy``."""
    return Path(cache_dir) / str(resolution) / kind / f"{item_id}.npy"


def _save_atomic(path: Path, array: np.ndarray) -> None:
    """Write .npy to a hidden temporary name and rename: an interrupted run never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}{_TMP_MARK}{os.getpid()}.npy")
    try:
        with open(tmp, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}{_TMP_MARK}{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


def _cached_shape(path: Path) -> tuple[int, ...] | None:
    """Shape of a cached array from its header, or None if missing or unreadable."""
    try:
        return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)
    except (OSError, ValueError):
        return None


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check"):
            pass
    except OSError as exc:
        raise PermissionError(f"cannot write the cache to {out} ({exc}); pass a writable out_dir.") from exc


def _remove_stale_tmp(out: Path) -> None:
    for path in out.rglob(f".*{_TMP_MARK}*"):
        path.unlink(missing_ok=True)


def _validate_resolutions(resolutions: Sequence[int]) -> tuple[int, ...]:
    res = tuple(sorted({int(r) for r in resolutions}))
    if not res or res[0] < 1:
        raise ValueError(f"resolutions must be positive pixel sizes, got {list(resolutions)}.")
    return res


def prepare_dataset(
    image_dirs: PathLike | Sequence[PathLike] | None,
    video_dirs: PathLike | Sequence[PathLike] | None,
    out_dir: PathLike,
    resolutions: Sequence[int] = DEFAULT_RESOLUTIONS,
    *,
    max_frames_per_video: int | None = DEFAULT_MAX_FRAMES_PER_VIDEO,
    progress: bool = True,
) -> PrepareSummary:
    """Decode every image and video once and cache it at each resolution (shorter side = resolution).

    Layout: ``<out_dir>/<resolution>/images/<id>.npy`` uint8 (H, W, 3) and ``.../videos/<id>.npy`` uint8
    (T, H, W, 3), plus ``<out_dir>/manifest.json`` listing the items of this run. Videos keep at most
    ``max_frames_per_video`` frames spread evenly over the clip (None keeps all, as the official code does).
    Unreadable images, corrupt or one-frame videos and frame folders with mixed sizes are skipped and reported
    (a warning each); only when every input is skipped does :class:`NoUsableInputError` say what happened to them.
    Files are written atomically; re-running reuses items already cached (an interrupted run resumes).

    All inputs are checked before any decoding: missing folders, folders without images/videos and an unwritable
    out_dir raise at once.
    """
    res = _validate_resolutions(resolutions)
    if max_frames_per_video is not None and max_frames_per_video < MIN_FRAMES_PER_VIDEO:
        raise ValueError(f"max_frames_per_video must be >= {MIN_FRAMES_PER_VIDEO} or None, got {max_frames_per_video}.")
    image_roots, video_roots = _as_dirs(image_dirs), _as_dirs(video_dirs)
    if not image_roots and not video_roots:
        raise ValueError("pass at least one image folder or video folder.")
    for root in image_roots + video_roots:
        if not root.is_dir():
            raise FileNotFoundError(f"folder {root} does not exist.")
    images: list[tuple[Path, Path]] = []
    for root in image_roots:
        found = find_images(root)
        if not found:
            raise ValueError(f"no images found in {root} (looked recursively for {', '.join(IMAGE_EXTENSIONS)}).")
        images += [(p, root) for p in found]
    videos: list[tuple[VideoSource, Path]] = []
    for root in video_roots:
        found_videos = find_videos(root)
        if not found_videos:
            raise ValueError(
                f"no videos found in {root} (looked recursively for {', '.join(VIDEO_EXTENSIONS)} files and for "
                f"folders holding >= {MIN_FRAMES_PER_VIDEO} frame images)."
            )
        videos += [(v, root) for v in found_videos]
    out = Path(out_dir)
    _check_writable(out)
    _remove_stale_tmp(out)
    previous = _read_previous_manifest(out)

    from tqdm.auto import tqdm

    summary = PrepareSummary(out_dir=out, resolutions=res)
    manifest: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "resolutions": list(res),
        "max_frames_per_video": max_frames_per_video,
        "images": [],
        "videos": [],
        "skipped": [],
    }
    bar = tqdm(total=len(images) + len(videos), desc="prepare", unit="item", disable=not progress)
    for path, root in images:
        entry = _prepare_image(path, root, out, res, summary)
        if entry is not None:
            manifest["images"].append(entry)
        bar.update(1)
    for source, root in videos:
        entry = _prepare_video(source, root, out, res, max_frames_per_video, previous, summary)
        if entry is not None:
            manifest["videos"].append(entry)
            summary.num_video_frames += entry["num_frames"]
        bar.update(1)
    bar.close()
    summary.num_images = len(manifest["images"])
    summary.num_videos = len(manifest["videos"])
    manifest["skipped"] = [s.__dict__ for s in summary.skipped]
    _write_json_atomic(out / MANIFEST_NAME, manifest)
    for item in summary.skipped:
        logger.warning("skipped %s %s: %s", item.kind, item.source, item.reason)
    if summary.num_images == 0 and summary.num_videos == 0:
        given = [summary.all_skipped_message(k) for k, found in (("image", images), ("video", videos)) if found]
        raise NoUsableInputError(f"nothing usable to cache: {'; '.join(given)}; see the warnings above.")
    return summary


def _read_previous_manifest(out: Path) -> dict[str, dict]:
    """Entries of an earlier manifest by id (to keep metadata such as fps of reused videos)."""
    try:
        old = json.loads((out / MANIFEST_NAME).read_text())
        return {e["id"]: e for e in old.get("images", []) + old.get("videos", [])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _existing_shapes(out: Path, kind: Literal["images", "videos"], item_id: str, res: Sequence[int]) -> dict:
    shapes = {r: _cached_shape(cache_path(out, r, kind, item_id)) for r in res}
    return {r: s for r, s in shapes.items() if s is not None}


def _prepare_image(path: Path, root: Path, out: Path, res: tuple[int, ...], summary: PrepareSummary) -> dict | None:
    try:
        item_id = _item_id(path, root, _file_fingerprint(path))
        shapes = _existing_shapes(out, "images", item_id, res)
        missing = [r for r in res if r not in shapes]
        if missing:
            image = _open_image(path, max(missing))
            for r, array in _resize_all(image, missing).items():
                _save_atomic(cache_path(out, r, "images", item_id), array)
                shapes[r] = array.shape
        else:
            summary.num_reused += 1
    except Exception as exc:  # any decoder error: skip this file, keep going
        summary.skipped.append(SkippedItem(str(path), "image", "unreadable", f"cannot read image: {exc}"))
        return None
    return {"id": item_id, "source": str(path), "shapes": {str(r): list(shapes[r][:2]) for r in res}}


def _prepare_video(
    source: VideoSource,
    root: Path,
    out: Path,
    res: tuple[int, ...],
    max_frames: int | None,
    previous: dict,
    summary: PrepareSummary,
) -> dict | None:
    path = source.path
    try:
        if source.is_frame_folder:
            fingerprint = [[f.name, *_file_fingerprint(f)] for f in source.frames]
        else:
            fingerprint = _file_fingerprint(path)
        item_id = _item_id(path, root, [fingerprint, max_frames])
        shapes = _existing_shapes(out, "videos", item_id, res)
        missing = [r for r in res if r not in shapes]
        fps = previous.get(item_id, {}).get("fps")
        if missing:
            largest = max(missing)
            if source.is_frame_folder:
                frames = _decode_frame_folder(source, largest, max_frames)
            else:
                frames, fps = _decode_video_file(path, largest, max_frames)
            if len(frames) < MIN_FRAMES_PER_VIDEO:
                raise _UnusableInputError(
                    "too_few_frames", f"{len(frames)} frame(s); a video needs >= {MIN_FRAMES_PER_VIDEO}"
                )
            for r in missing:
                if r == largest:
                    stack = np.stack(frames)
                else:
                    stack = np.stack([_resize(Image.fromarray(f), r) for f in frames])
                _save_atomic(cache_path(out, r, "videos", item_id), stack)
                shapes[r] = stack.shape
        else:
            summary.num_reused += 1
    except _UnusableInputError as exc:
        summary.skipped.append(SkippedItem(str(path), "video", exc.category, str(exc)))
        return None
    except Exception as exc:  # never let one bad input stop a long prepare
        summary.skipped.append(SkippedItem(str(path), "video", "unreadable", f"{type(exc).__name__}: {exc}"))
        return None
    num_frames = {shapes[r][0] for r in res}
    if len(num_frames) != 1:  # resolutions cached by runs with different inputs: redo this item next time
        for r in res:
            cache_path(out, r, "videos", item_id).unlink(missing_ok=True)
        summary.skipped.append(SkippedItem(str(path), "video", "unreadable", "inconsistent cache, removed; re-run"))
        return None
    return {
        "id": item_id,
        "source": str(path),
        "source_type": "frames" if source.is_frame_folder else "file",
        "num_frames": num_frames.pop(),
        "fps": fps,
        "shapes": {str(r): list(shapes[r][1:3]) for r in res},
    }


def load_manifest(cache_dir: PathLike) -> dict[str, Any]:
    """Read and check a cache's manifest.json."""
    path = Path(cache_dir) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST_NAME} in {cache_dir}: run prepare_dataset on your photos/videos first.")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != CACHE_FORMAT or manifest.get("version") != CACHE_VERSION:
        raise ValueError(
            f"{path} is not a {CACHE_FORMAT} v{CACHE_VERSION} manifest (format={manifest.get('format')!r}, "
            f"version={manifest.get('version')!r}); prepare the cache again."
        )
    return manifest
