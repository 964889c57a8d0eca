"""Evaluation orchestration behind ``deeplandscape evaluate``: find files, pair them, run sweeps, build the tables.

The metric arithmetic lives in :mod:`deeplandscape_hf.metrics` (SSIM, LPIPS, FID, FVD, optical flow); this module
decides *what* is compared with *what*, following the supplement's protocols (Tables 1-3) and the authors'
``calc_metrics_video.py`` / ``evaluate.py`` (reference section 6):

- **animation**: animated videos against the photos they animate, matched by file name (``name.mp4`` or
  ``name_*.mp4`` <-> ``name.jpg``): reconstruction SSIM/LPIPS of frame 0, static-region SSIM/LPIPS of every frame, and
  the amount of motion (mean optical flow, normalised coordinates, x1e-3) in the dynamic mask and on the static land.
- **inversion sweep** (Table 2): each inversion variant on a folder of photos, the generator's raw frames against the
  photo's generator-sized crop.
- **synthetic / balance** (Tables 1 and 3): videos sampled from one or more generators against real videos, FID on
  frames and FVD on clips, plus static consistency and motion of the generated videos for Table 1.

Everything that can be wrong with the inputs (unmatched names, unreadable or too-short videos, masks of another
shape, missing pretrained weights) is checked before the expensive part runs, and every message names the files.
Networks (LPIPS, feature extractors, segmenter, the animation itself) are injectable, so tests run tiny stand-ins.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from .metrics import (
    PAPER_TABLE2,
    TABLE2_COLUMNS,
    FrechetResult,
    MissingWeightsError,
    compute_statistics,
    compute_video_statistics,
    evaluate_animation,
    fid,
    format_markdown_table,
    fvd,
    inversion_table_rows,
    load_lpips,
    resize_center_crop,
    resolve_flow_method,
    to_unit_video,
    write_csv,
)

__all__ = [
    "ANIMATION_COLUMNS",
    "BALANCE_COLUMNS",
    "PHOTO_SUFFIXES",
    "VIDEO_SUFFIXES",
    "AnimationItem",
    "AnimationSample",
    "EvaluationInputError",
    "EvaluationResult",
    "VideoSample",
    "collect_video_samples",
    "describe_flow",
    "evaluate_animation_files",
    "evaluate_generators",
    "find_masks",
    "find_photos",
    "find_videos",
    "fit_to_size",
    "generated_static_and_motion",
    "generated_video_samples",
    "make_video_sample",
    "match_videos_to_photos",
    "pair_animation_files",
    "pipeline_animate_fn",
    "resolve_lpips",
    "resolve_mask_fn",
    "run_inversion_sweep",
    "sort_variants",
]

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".gif", ".webp")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MASK_NAME_SUFFIXES = ("", "_mask")  # lake.png or lake_mask.png for lake.jpg
FRAME_FILE_SUFFIXES = (".png", ".jpg", ".jpeg")
ASPECT_TOLERANCE = 0.01  # a mask within 1 % of the photo's aspect ratio was drawn on a resized copy of it
TABLE2_ORDER = ("i2s", "mo", "e", "eo", "eoi", "eoif", "eoifs")  # the supplement's row order

ANIMATION_COLUMNS = (
    "video",
    "photo",
    "frames",
    "size",
    "SSIM",
    "LPIPS",
    "static SSIM",
    "static LPIPS",
    "flow dyn x1e-3",
    "flow static x1e-3",
    "flow dyn px",
    "flow static px",
    "flow ratio",
    "mask",
)
BALANCE_COLUMNS = ("model", "FID", "FVD", "SSIM", "LPIPS", "Flow x1e-3", "flow static x1e-3")
SYNTHETIC_COLUMNS = ("model", "FID", "FVD", "videos", "frames", "size")

MaskFn = Callable[[np.ndarray], np.ndarray]  # uint8 (H, W, 3) photo -> float (H, W) in [0, 1], 1 = may move
LPIPSChoice = Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None | Literal[False]


class EvaluationInputError(ValueError):
    """The files given to an evaluation do not fit together; the message names every offending file."""


# ------------------------------------------------------------------------------------------------------ results


@dataclass
class EvaluationResult:
    """One evaluation's table, the protocol that produced it and the caveats, ready to print or save.

    Attributes:
        command: ``animation``, ``synthetic``, ``inversion`` or ``balance``.
        columns: the table's columns, in order (the same for markdown and CSV).
        rows: one dict per table row; missing values are None and print as ``n/a``.
        notes: caveats the numbers depend on (estimator fallbacks, missing weights, heuristic masks, ...).
        protocol: counts, resolutions, frame counts, estimators: everything needed to reproduce the numbers.
        details: full per-item reports (per-frame curves etc.), kept for ``--json``.
        reference: optional rows of published numbers in the same layout (the supplement's Table 2).
    """

    command: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    protocol: dict[str, Any] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)
    reference: list[dict[str, Any]] | None = None

    def add_note(self, note: str | None) -> None:
        """Add a caveat once (the same fallback hit per video must not repeat a hundred times)."""
        if note and note not in self.notes:
            self.notes.append(note)

    def to_markdown(self, float_format: str = "{:.3f}") -> str:
        """The table, then the protocol and notes as bullet lines (numbers never travel without their caveats)."""
        parts = [format_markdown_table(self.rows, self.columns, float_format)]
        if self.reference:
            parts.append("\nPublished (supplement; other estimators and LPIPS input range, compare trends):\n\n")
            parts.append(format_markdown_table(self.reference, self.columns, "{:.2f}"))
        if self.protocol:
            parts.append("\nProtocol:\n")
            parts.extend(f"- {key}: {_protocol_text(value)}\n" for key, value in self.protocol.items())
        if self.notes:
            parts.append("\nNotes:\n")
            parts.extend(f"- {note}\n" for note in self.notes)
        return "".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; NaN becomes null and infinities the strings "inf" / "-inf" (strict JSON has neither)."""
        return _json_safe(
            {
                "command": self.command,
                "columns": list(self.columns),
                "rows": self.rows,
                "protocol": self.protocol,
                "notes": self.notes,
                "details": self.details,
                "reference": self.reference,
            }
        )

    def write_json(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        return path

    def write_csv(self, path: str | os.PathLike) -> Path:
        return write_csv(self.rows, path, self.columns)


def _protocol_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, FrechetResult):
        return _json_safe(value.__dict__)
    return value


def _mean(values: Iterable[Any]) -> float | None:
    """Mean of the finite numbers; None when there are none (e.g. LPIPS unavailable everywhere)."""
    kept = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(float(v))]
    return sum(kept) / len(kept) if kept else None


# ------------------------------------------------------------------------------------------------------ files


def _is_frame_folder(path: Path) -> bool:
    """A folder of numbered frames (the official metrics read videos as ``00000.jpg``, ``00001.jpg``, ...)."""
    if not path.is_dir():
        return False
    return any(
        child.is_file() and child.suffix.lower() in FRAME_FILE_SUFFIXES and child.stem[-1:].isdigit()
        for child in path.iterdir()
    )


def find_videos(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into a sorted list of videos (files with a video suffix, or numbered-frame folders).

    A folder that itself holds numbered frames is one video; any other folder is scanned one level deep for video
    files and frame folders. A path that does not exist, or a folder with no video in it, is an error naming it.
    """
    found: list[Path] = []
    missing, empty, not_video = [], [], []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            missing.append(str(path))
        elif path.is_file():
            (found if path.suffix.lower() in VIDEO_SUFFIXES else not_video).append(path)
        elif _is_frame_folder(path):
            found.append(path)
        else:
            inside = sorted(
                child
                for child in path.iterdir()
                if (child.is_file() and child.suffix.lower() in VIDEO_SUFFIXES) or _is_frame_folder(child)
            )
            if not inside:
                empty.append(str(path))
            found.extend(inside)
    problems = []
    if missing:
        problems.append(f"not found: {', '.join(missing)}")
    if not_video:
        problems.append(
            f"not videos (expected {', '.join(VIDEO_SUFFIXES)} or a folder of numbered frames): "
            + ", ".join(str(p) for p in not_video)
        )
    if empty:
        problems.append(f"no videos (or numbered-frame folders) inside: {', '.join(empty)}")
    if problems:
        raise EvaluationInputError("; ".join(problems) + ".")
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)  # the same file named twice (a folder and a file in it) counts once
    return sorted(unique.values())


def find_photos(paths: Sequence[str | os.PathLike]) -> dict[str, Path]:
    """Photos by file stem, from files and folders (one level). Two photos with one stem are an error naming both."""
    by_stem: dict[str, list[Path]] = {}
    missing, not_photo = [], []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            missing.append(str(path))
            continue
        if path.is_dir():
            candidates = sorted(c for c in path.iterdir() if c.is_file() and c.suffix.lower() in PHOTO_SUFFIXES)
        elif path.suffix.lower() in PHOTO_SUFFIXES:
            candidates = [path]
        else:
            not_photo.append(str(path))
            continue
        for candidate in candidates:
            by_stem.setdefault(candidate.stem, [])
            if candidate not in by_stem[candidate.stem]:
                by_stem[candidate.stem].append(candidate)
    problems = []
    if missing:
        problems.append(f"not found: {', '.join(missing)}")
    if not_photo:
        problems.append(f"not photos (expected {', '.join(PHOTO_SUFFIXES)}): {', '.join(not_photo)}")
    clashes = {stem: files for stem, files in by_stem.items() if len(files) > 1}
    if clashes:
        listed = "; ".join(" and ".join(str(f) for f in files) for files in clashes.values())
        problems.append(f"several photos share a name, so videos cannot be matched to one of them: {listed}")
    if problems:
        raise EvaluationInputError("; ".join(problems) + ".")
    if not by_stem:
        raise EvaluationInputError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) in {', '.join(map(str, paths))}.")
    return {stem: files[0] for stem, files in sorted(by_stem.items())}


def _video_stem(video: Path) -> str:
    return video.name if video.is_dir() else video.stem


def match_videos_to_photos(videos: Sequence[Path], photos: Mapping[str, Path]) -> list[tuple[Path, str]]:
    """Pair each video with the photo it animates: ``name.mp4`` or ``name_<anything>.mp4`` <-> photo ``name.*``.

    The longest matching photo name wins (``lake_2_animated.mp4`` goes to ``lake_2.jpg``, not ``lake.jpg``). Videos
    that match no photo are an error that lists them with the photo names that were available.
    """
    pairs, unmatched = [], []
    stems = sorted(photos, key=len, reverse=True)
    for video in videos:
        name = _video_stem(video)
        stem = name if name in photos else next((s for s in stems if name.startswith(s + "_")), None)
        if stem is None:
            unmatched.append(video)
        else:
            pairs.append((video, stem))
    if unmatched:
        shown = ", ".join(sorted(photos)[:20]) + (" ..." if len(photos) > 20 else "")
        raise EvaluationInputError(
            "no input photo matches these videos (a video 'NAME.mp4' or 'NAME_*.mp4' needs a photo 'NAME.jpg'): "
            + ", ".join(str(v) for v in unmatched)
            + f". Photos available: {shown}."
        )
    return pairs


def find_masks(folder: str | os.PathLike, stems: Iterable[str]) -> dict[str, Path]:
    """The mask of each photo stem in ``folder`` (``NAME.png`` or ``NAME_mask.png``); missing ones are an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EvaluationInputError(f"mask folder '{folder}' does not exist or is not a folder.")
    files = {c.name.lower(): c for c in folder.iterdir() if c.is_file() and c.suffix.lower() in MASK_SUFFIXES}
    masks, missing = {}, []
    for stem in stems:
        match = next(
            (
                files[f"{stem}{tail}{suffix}".lower()]
                for tail in MASK_NAME_SUFFIXES
                for suffix in MASK_SUFFIXES
                if f"{stem}{tail}{suffix}".lower() in files
            ),
            None,
        )
        if match is None:
            missing.append(stem)
        else:
            masks[stem] = match
    if missing:
        raise EvaluationInputError(
            f"no mask in '{folder}' for: {', '.join(missing)} (expected NAME.png or NAME_mask.png per photo)."
        )
    return masks


# ------------------------------------------------------------------------------------------------------ images


def fit_to_size(image: np.ndarray, size: tuple[int, int], *, mask: bool = False) -> np.ndarray:
    """Scale ``image`` to cover ``size`` = (H, W) and center-crop it: the photo as the video frames show it.

    Composited animations keep the photo's aspect ratio (a plain resize); raw generator frames are its centre square
    (the official preprocessing ends with a centre crop). Bilinear for photos; masks (float (H, W)) are resampled
    bilinearly too and stay soft, the metrics threshold them at 0.5.
    """
    height, width = image.shape[:2]
    target_h, target_w = size
    if (height, width) == (target_h, target_w):
        return image
    scale = max(target_h / height, target_w / width)
    new_w, new_h = max(target_w, round(width * scale)), max(target_h, round(height * scale))
    if mask:
        pil = Image.fromarray(np.asarray(image, dtype=np.float32))
    else:
        pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    resized = np.asarray(pil.resize((new_w, new_h), Image.Resampling.BILINEAR))
    top, left = (new_h - target_h) // 2, (new_w - target_w) // 2
    return np.ascontiguousarray(resized[top : top + target_h, left : left + target_w])


def _trim_even_padding(frames: np.ndarray, photo_hw: tuple[int, int]) -> np.ndarray:
    """Drop the edge row/column ``write_video`` adds to odd-sized mp4s, when that is all that differs from the photo.

    Otherwise the input would be stretched by one pixel to match, which blurs it and lowers SSIM for nothing.
    """
    height, width = frames.shape[1:3]
    ph, pw = photo_hw
    if (height, width) != (ph, pw) and height in (ph, ph + ph % 2) and width in (pw, pw + pw % 2):
        return np.ascontiguousarray(frames[:, :ph, :pw])
    return frames


def _read_video(path: Path) -> np.ndarray:
    """uint8 (T, H, W, 3), or an error naming the file when it cannot be decoded."""
    from ..animation.video import read_video

    try:
        frames = read_video(path)
    except Exception as error:  # ffmpeg, PIL and numpy all raise their own types for a broken file
        raise EvaluationInputError(f"cannot read video '{path}': {error}") from error
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise EvaluationInputError(f"'{path}' has no usable RGB frames (decoded shape {frames.shape}).")
    return frames


def _video_lengths(paths: Sequence[Path]) -> dict[Path, int]:
    """Frame count of every video, checking first that each can be opened; unreadable files are listed together."""
    from ..animation.video import video_info

    lengths, broken = {}, []
    for path in paths:
        try:
            lengths[path] = int(video_info(path).num_frames)
        except Exception as error:  # any decoder failure means "unreadable" to the user
            text = str(error).strip()
            broken.append(f"{path} ({text.splitlines()[0] if text else type(error).__name__})")
    if broken:
        raise EvaluationInputError(
            f"cannot read these videos: {'; '.join(broken)}. Each must be a complete, playable video; "
            "re-export the ones listed, or move them out of the folder."
        )
    return lengths


def _load_photo(path: Path) -> np.ndarray:
    from ..animation.images import load_image

    try:
        return np.array(load_image(path))  # a writable copy: torch.from_numpy warns on PIL's read-only buffer
    except Exception as error:  # InvalidImageError, OSError: name the file either way
        raise EvaluationInputError(f"cannot read photo '{path}': {error}") from error


def _load_mask_for(mask_path: Path, photo_path: Path, photo_hw: tuple[int, int]) -> tuple[np.ndarray, str | None]:
    """A user mask at the photo's size. Same aspect ratio but another size: resized with a warning naming both files;
    another aspect ratio: an error naming both (the mask was drawn on a different picture or crop)."""
    from ..animation.images import load_mask

    try:
        values = load_mask(mask_path)
    except Exception as error:
        raise EvaluationInputError(f"cannot read mask '{mask_path}': {error}") from error
    height, width = values.shape
    ph, pw = photo_hw
    if (height, width) == (ph, pw):
        return values, None
    if abs(width / height - pw / ph) > ASPECT_TOLERANCE * (pw / ph):
        raise EvaluationInputError(
            f"mask '{mask_path}' is {width}x{height} but photo '{photo_path}' is {pw}x{ph}: the aspect ratios differ, "
            "so the mask does not belong to this photo (or to this crop of it)."
        )
    note = f"mask '{mask_path}' is {width}x{height}, photo '{photo_path}' is {pw}x{ph}: mask resized to the photo"
    resized = Image.fromarray(values).resize((pw, ph), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0), note


# ------------------------------------------------------------------------------------------------------ networks


def resolve_lpips(lpips_fn: LPIPSChoice = None, device: str | torch.device = "cpu") -> tuple[Any, str | None]:
    """The LPIPS function to use, or None with the reason (the column then shows n/a and the note says how to fix it).

    ``None`` loads LPIPS-VGG from the local caches; ``False`` turns it off; a callable is used as given.
    """
    if lpips_fn is False:
        return None, "LPIPS skipped (--no-lpips)."
    if lpips_fn is not None:
        return lpips_fn, None
    try:
        return load_lpips("vgg", device=device), None
    except (MissingWeightsError, ImportError) as error:
        return None, f"LPIPS columns are n/a: {error}"


def describe_flow(method: str) -> tuple[str, str | None]:
    """The estimator that will run for ``--flow method`` and a sentence saying which it is (and why, on fallback)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fallback is reported in the note instead
        used, fallback = resolve_flow_method(method)
    kind = "learned estimator, torchvision RAFT-small" if used == "raft" else f"classical OpenCV {used.capitalize()}"
    sentence = f"optical flow: {used} ({kind})"
    if fallback:
        sentence += f"; {fallback}"
    return used, sentence


def resolve_mask_fn(
    segmentation: Literal["auto", "heuristic"] = "auto",
    segmenter_id: str | None = None,
    device: str | torch.device | None = None,
) -> tuple[MaskFn, str, str | None]:
    """How to find the dynamic region without a user mask: (function, short label, note).

    ``auto`` uses the ADE20K segmenter (sky + water, DESIGN decision 5); when it cannot be loaded (offline, not
    cached) the colour heuristic is used instead and the note says so, since its masks are rougher.
    """
    from ..animation import segmentation as seg

    if segmentation not in ("auto", "heuristic"):
        raise ValueError(f"segmentation must be 'auto' or 'heuristic', got {segmentation!r}")

    def heuristic(photo: np.ndarray) -> np.ndarray:
        return seg.heuristic_segment(Image.fromarray(photo)).dynamic_mask

    if segmentation == "heuristic":
        note = "dynamic masks from the colour/position heuristic (asked for): rough on dark, hazy or sunset skies"
        return heuristic, "heuristic", note
    model_id = segmenter_id or seg.DEFAULT_SEGMENTER_ID
    try:
        segmenter = seg.SkySegmenter(model_id, device=device)
    except seg.SegmenterUnavailableError as error:
        reason = str(error).split(" Without it")[0]
        return (
            heuristic,
            "heuristic",
            f"dynamic masks from the colour/position heuristic because the segmenter is unavailable ({reason}); "
            "heuristic masks miss dark or sunset skies: pass --masks for reliable numbers.",
        )

    def segment(photo: np.ndarray) -> np.ndarray:
        return segmenter.segment(Image.fromarray(photo)).dynamic_mask

    return segment, f"segmenter {model_id}", None


# ------------------------------------------------------------------------------------------------------ animation


@dataclass
class AnimationItem:
    """One animated video, the photo it animates and, when given, that photo's mask."""

    name: str
    video: Path
    photo: Path
    mask: Path | None = None


def pair_animation_files(
    videos: Sequence[str | os.PathLike],
    inputs: Sequence[str | os.PathLike],
    masks: str | os.PathLike | None = None,
) -> tuple[list[AnimationItem], list[str]]:
    """Find and pair the files of ``evaluate animation``; returns the items and warnings (photos without a video)."""
    video_paths = find_videos(videos)
    photos = find_photos(inputs)
    pairs = match_videos_to_photos(video_paths, photos)
    used = sorted({stem for _, stem in pairs})
    mask_paths = find_masks(masks, used) if masks is not None else {}
    warnings_out = []
    unused = sorted(set(photos) - set(used))
    if unused:
        shown = ", ".join(photos[s].name for s in unused[:5]) + (
            f" and {len(unused) - 5} more" if len(unused) > 5 else ""
        )
        warnings_out.append(f"{len(unused)} photo(s) have no video and are not evaluated: {shown}")
    items = [
        AnimationItem(name=_video_stem(video), video=video, photo=photos[stem], mask=mask_paths.get(stem))
        for video, stem in pairs
    ]
    return items, warnings_out


def evaluate_animation_files(
    items: Sequence[AnimationItem],
    *,
    lpips_fn: LPIPSChoice = None,
    flow: str = "auto",
    mask_fn: MaskFn | None = None,
    mask_label: str = "mask",
    mask_note: str | None = None,
    max_side: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> EvaluationResult:
    """Evaluate animated videos against their photos (official ``calc_metrics_video.py`` per-video metrics).

    For each item: the photo is scaled/cropped to the video's frame size; the dynamic mask comes from the item's mask
    file, else ``mask_fn`` (segmenter or heuristic) on the photo; :func:`metrics.evaluate_animation` gives the
    numbers. All videos are opened first, so an unreadable one fails the run before any metric is computed.

    Args:
        items: from :func:`pair_animation_files`.
        lpips_fn: None = LPIPS-VGG from the caches (n/a + note when missing), False = off, or a callable.
        flow: ``auto`` (RAFT when cached, else Farneback), ``raft``, ``farneback``, ``dis``.
        mask_fn: dynamic mask for items without a mask file; required when some item has none.
        max_side: downscale frames (and photo, mask) so the longer side is at most this (memory of long 1080p videos).
    """
    result = EvaluationResult("animation", ANIMATION_COLUMNS, [])
    if not items:
        raise EvaluationInputError("no videos to evaluate.")
    if mask_fn is None and any(item.mask is None for item in items):
        raise ValueError("a mask_fn is needed for videos without a mask file")
    lengths = _video_lengths([item.video for item in items])
    short = [f"{item.video} ({lengths[item.video]} frame)" for item in items if lengths[item.video] < 2]
    if short:
        raise EvaluationInputError(f"motion needs at least 2 frames; these videos have fewer: {', '.join(short)}.")
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{item.video} ({lengths[item.video]})" for item in items)
        result.add_note(f"videos have different frame counts, so time averages cover different spans: {listed}")
    lpips_used, lpips_note = resolve_lpips(lpips_fn, device)
    flow_used, flow_sentence = describe_flow(flow)
    result.add_note(flow_sentence)
    result.add_note(lpips_note)
    if any(item.mask is None for item in items):
        result.add_note(mask_note)

    bar = _progress(items, progress, "evaluating videos")
    for item in bar:
        frames = _read_video(item.video)
        photo = _load_photo(item.photo)
        photo_hw = photo.shape[:2]
        if item.mask is not None:
            dynamic, size_note = _load_mask_for(item.mask, item.photo, photo_hw)
            result.add_note(size_note)
            source = "file"
        else:
            dynamic = np.asarray(mask_fn(photo), dtype=np.float32)  # type: ignore[misc]
            source = mask_label
        frames = _trim_even_padding(frames, photo_hw)
        if max_side is not None and max(frames.shape[1:3]) > max_side:
            scale = max_side / max(frames.shape[1:3])
            frames = _resize_frames(frames, (round(frames.shape[1] * scale), round(frames.shape[2] * scale)))
        size = frames.shape[1:3]
        aspect_video, aspect_photo = size[1] / size[0], photo_hw[1] / photo_hw[0]
        if abs(aspect_video - aspect_photo) > ASPECT_TOLERANCE * aspect_photo:
            result.add_note(
                f"'{item.video}' ({size[1]}x{size[0]}) has another aspect ratio than '{item.photo}' "
                f"({photo_hw[1]}x{photo_hw[0]}): the photo was center-cropped to the video (raw generator frames)"
            )
        reference = fit_to_size(photo, size)
        mask = fit_to_size(dynamic, size, mask=True) > 0.5
        if not mask.any():
            result.add_note(f"'{item.photo}': the dynamic mask is empty, so its dynamic flow is n/a")
        elif mask.all():
            result.add_note(f"'{item.photo}': the dynamic mask covers everything, so static metrics are n/a")
        report = evaluate_animation(frames, reference, mask, lpips_fn=lpips_used or False, flow_method=flow_used)
        report.update(name=item.name, video=str(item.video), photo=str(item.photo), mask_source=source)
        if lpips_used is None:
            report["lpips_note"] = lpips_note
        result.details.append(report)
        result.rows.append(_animation_row(report, item, source))
    result.rows.append(_animation_mean_row(result.rows))
    result.protocol = {
        "videos": len(items),
        "reconstruction": "SSIM/LPIPS of frame 0 vs the input photo at the video's size",
        "static": "masked SSIM/LPIPS of every frame vs the input over the static region, averaged over time",
        "motion": "flow_l2 = sqrt(mean|fx|^2 + mean|fy|^2) over consecutive frames, normalised coords (x1e-3); "
        "px: mean length of the flow in pixels per frame at the video's size",
        "flow estimator": flow_used,
        "SSIM": "Gaussian window 11, sigma 1.5, C1=0.01^2, C2=0.03^2 (authors' protocol); LPIPS-VGG on [-1, 1]",
    }
    return result


def _resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(f).resize(size[::-1], Image.Resampling.BILINEAR)) for f in frames])


def _animation_row(report: Mapping[str, Any], item: AnimationItem, source: str) -> dict[str, Any]:
    height, width = report["resolution"]
    return {
        "video": str(item.video),
        "photo": item.photo.name,
        "frames": report["num_frames"],
        "size": f"{width}x{height}",
        "SSIM": report["ssim"],
        "LPIPS": report["lpips"],
        "static SSIM": report["static_ssim"],
        "static LPIPS": report["static_lpips"],
        "flow dyn x1e-3": report["flow_dynamic_x1e3"],
        "flow static x1e-3": report["flow_static_x1e3"],
        "flow dyn px": report["flow_dynamic_px"],
        "flow static px": report["flow_static_px"],
        "flow ratio": report["flow_ratio"],
        "mask": source,
    }


def _animation_mean_row(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The mean over videos; the ratio is the ratio of the mean flows (a mean of ratios explodes on still land)."""
    mean = {"video": f"mean of {len(rows)}", "photo": "", "frames": "", "size": "", "mask": ""}
    for column in (
        "SSIM",
        "LPIPS",
        "static SSIM",
        "static LPIPS",
        "flow dyn x1e-3",
        "flow static x1e-3",
        "flow dyn px",
        "flow static px",
    ):
        mean[column] = _mean(row[column] for row in rows)
    dynamic, static = mean["flow dyn x1e-3"], mean["flow static x1e-3"]
    if dynamic is None or static is None:
        mean["flow ratio"] = None
    else:
        mean["flow ratio"] = dynamic / static if static > 0 else (math.inf if dynamic > 0 else None)
    return mean


def _progress(items: Sequence[Any], enabled: bool, desc: str) -> Iterable[Any]:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc)


# ------------------------------------------------------------------------------------------------------ inversion


@dataclass
class AnimationSample:
    """What an animation callable returns for one (photo, variant): frames and what they are compared against.

    Attributes:
        frames: the video, uint8 (T, H, W, 3) or float (T, 3, H, W) in [0, 1].
        input_image: the photo as the frames should reproduce it, uint8 (H, W, 3) at the frames' size.
        dynamic_mask: (H, W), 1 where motion is expected (sky, water).
        info: anything worth keeping in the JSON report (timings, losses, the mode that really ran).
    """

    frames: Any
    input_image: np.ndarray
    dynamic_mask: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


AnimateFn = Callable[[Path, str], AnimationSample]


def pipeline_animate_fn(
    pipe: Any,
    *,
    preset: Any = None,
    num_frames: int = 16,
    motion: Any = None,
    seed: int = 0,
    perceptual: str | Callable = "auto",
    segmentation: Literal["auto", "heuristic", "none"] = "auto",
    masks: Mapping[str, Path] | None = None,
) -> AnimateFn:
    """An :data:`AnimateFn` running ``DeepLandscapePipeline`` with ``mode=variant`` on the raw generator frames.

    ``composite=False``: Table 2 measures the inversion, and compositing would paste the photo's own pixels over
    the static land (SSIM near 1 whatever the variant). The reference is the photo's generator-sized centre crop
    (the official preprocessing), the mask the one the pipeline used, so every variant sees the same photo and mask.
    Pipeline warnings (empty mask, perceptual none) are returned in ``info["warnings"]``.
    """
    from ..animation.images import load_image, official_resize_and_crop

    masks = dict(masks or {})

    def animate(photo: Path, variant: str) -> AnimationSample:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = pipe(
                str(photo),
                mask=None if photo.stem not in masks else str(masks[photo.stem]),
                mode=variant,
                motion=motion,
                num_frames=num_frames,
                preset=preset,
                generator=torch.Generator().manual_seed(seed),
                output_type="np",
                composite=False,
                perceptual=perceptual,
                segmentation=segmentation,
            )
        resolution = pipe.generator.resolution
        crop, _ = official_resize_and_crop(load_image(photo), resolution, pipe.config.max_in_resolution)
        info = {
            "mode": out.mode,
            "timings": dict(out.timings),
            "losses": dict(out.losses),
            "warnings": sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning)}),
        }
        return AnimationSample(
            frames=torch.from_numpy(np.asarray(out.frames)).permute(0, 3, 1, 2),
            input_image=np.array(crop),
            dynamic_mask=np.asarray(out.mask, dtype=np.float32) / 255.0,
            info=info,
        )

    return animate


def run_inversion_sweep(
    photos: Mapping[str, Path] | Sequence[Path],
    variants: Sequence[str],
    animate_fn: AnimateFn,
    *,
    lpips_fn: LPIPSChoice = None,
    flow: str = "auto",
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> EvaluationResult:
    """Supplement Table 2: every variant on every photo; one row per variant (mean SSIM, LPIPS, dynamic flow x1e-3).

    ``animate_fn(photo, variant)`` does the animating (:func:`pipeline_animate_fn` for the real pipeline; tests pass
    a stub), so this function only loops, measures and aggregates. Rows follow ``variants``' order, names in capitals
    as in the supplement; the published values come along as ``reference`` for the same variants.
    """
    paths = list(photos.values()) if isinstance(photos, Mapping) else [Path(p) for p in photos]
    if not paths:
        raise EvaluationInputError("no photos to invert.")
    if not variants:
        raise ValueError("no variants given")
    lpips_used, lpips_note = resolve_lpips(lpips_fn, device)
    flow_used, flow_sentence = describe_flow(flow)
    result = EvaluationResult("inversion", TABLE2_COLUMNS, [])
    result.add_note(flow_sentence)
    result.add_note(lpips_note)
    reports: dict[str, list[dict[str, Any]]] = {variant.upper(): [] for variant in variants}
    jobs = [(photo, variant) for variant in variants for photo in paths]
    raised: dict[str, list[str]] = {}  # pipeline warning -> the runs that raised it (one note per message)
    for photo, variant in _progress(jobs, progress, "inversion sweep"):
        sample = animate_fn(photo, variant)
        report = evaluate_animation(
            sample.frames, sample.input_image, sample.dynamic_mask, lpips_fn=lpips_used or False, flow_method=flow_used
        )
        report.update(variant=variant.upper(), photo=str(photo), **sample.info)
        for message in sample.info.get("warnings", ()):
            raised.setdefault(message, []).append(f"{photo.name} {variant.upper()}")
        reports[variant.upper()].append(report)
        result.details.append(report)
    for message, runs in raised.items():
        result.add_note(message if len(runs) == len(jobs) else f"{message} ({', '.join(runs)})")
    result.rows = inversion_table_rows(reports)
    for row in result.rows:
        items = reports[row["variant"]]
        row["flow static x1e-3"] = _mean(r.get("flow_static_x1e3") for r in items)
        row["seconds"] = _mean(r.get("timings", {}).get("total") for r in items)
    result.reference = [{"variant": v, **PAPER_TABLE2[v]} for v in reports if v in PAPER_TABLE2]
    num_frames = {r["num_frames"] for r in result.details}
    sizes = {tuple(r["resolution"]) for r in result.details}
    result.protocol = {
        "photos": len(paths),
        "variants": [v.upper() for v in variants],
        "frames": sorted(num_frames),
        "resolution": [f"{w}x{h}" for h, w in sorted(sizes)],
        "SSIM, LPIPS": "frame 0 (the reconstruction) vs the photo's generator-sized centre crop",
        "Flow x1e-3": "mean optical flow in the dynamic (sky + water) mask, normalised coordinates",
        "flow estimator": flow_used,
    }
    return result


def sort_variants(variants: Iterable[str]) -> list[str]:
    """Variants in the supplement's Table 2 order (I2S, MO, E, EO, EOI, EOIF, EOIFS); unknown names are an error."""
    chosen = [v.strip().lower() for v in variants if v.strip()]
    unknown = [v for v in chosen if v not in TABLE2_ORDER]
    if unknown:
        raise EvaluationInputError(f"unknown variants {', '.join(unknown)}; choose from {', '.join(TABLE2_ORDER)}.")
    return [v for v in TABLE2_ORDER if v in chosen]


# ------------------------------------------------------------------------------------------------------ synthetic


@dataclass
class VideoSample:
    """The part of one video the distribution metrics use, kept small (uint8 at the metric resolution).

    Attributes:
        name: file name or ``seed <n>``.
        fid_frames: uint8 (K, R, R, 3): frames 0, every, 2 * every, ... (the authors' fid_{i} frame indices).
        clip: uint8 (F, R, R, 3): the first F frames for FVD, or None when FVD is off.
        num_frames: length of the whole video.
    """

    name: str
    fid_frames: np.ndarray
    clip: np.ndarray | None
    num_frames: int


def _to_uint8_resized(video: torch.Tensor, resolution: int) -> np.ndarray:
    video = resize_center_crop(video, resolution)
    return (video * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def make_video_sample(
    name: str,
    frames: Any,
    *,
    resolution: int,
    fid_every: int,
    fvd_frames: int | None,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> VideoSample:
    """Shorter side -> ``resolution`` + centre crop (the authors' FID protocol); keep the FID frames and FVD clip."""
    video = to_unit_video(frames, value_range)
    total = int(video.shape[0])
    fid_frames = _to_uint8_resized(video[::fid_every], resolution)
    clip = None if fvd_frames is None else _to_uint8_resized(video[:fvd_frames], resolution)
    return VideoSample(name=name, fid_frames=fid_frames, clip=clip, num_frames=total)


def collect_video_samples(
    folder: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    resolution: int = 256,
    fid_every: int = 10,
    fvd_frames: int | None = 16,
    max_videos: int | None = None,
    progress: bool = False,
) -> list[VideoSample]:
    """Real videos from a folder, reduced to :class:`VideoSample`. Unreadable videos, and videos shorter than the FVD
    clip, are one error listing all of them (found before any decoding of frames for the metrics)."""
    paths = find_videos([folder] if isinstance(folder, (str, os.PathLike)) else list(folder))
    if max_videos is not None:
        paths = paths[:max_videos]
    lengths = _video_lengths(paths)
    if fvd_frames is not None:
        short = [f"{p} ({n} frames)" for p, n in lengths.items() if n < fvd_frames]
        if short:
            raise EvaluationInputError(
                f"FVD uses the first {fvd_frames} frames of every video, but these real videos are shorter: "
                f"{', '.join(short)}. Remove them, or lower --fvd-frames."
            )
    samples = []
    for path in _progress(paths, progress, "reading real videos"):
        frames = _read_video(path)
        samples.append(
            make_video_sample(str(path), frames, resolution=resolution, fid_every=fid_every, fvd_frames=fvd_frames)
        )
    return samples


def generated_video_samples(
    model: Any,
    *,
    num_videos: int,
    num_frames: int,
    seed: int = 0,
    motion: str = "random",
    truncation: float = 1.0,
    batch_size: int = 8,
    resolution: int = 256,
    fid_every: int = 10,
    fvd_frames: int | None = 16,
    per_video: Callable[[str, torch.Tensor], dict[str, Any]] | None = None,
    progress: bool = False,
) -> tuple[list[VideoSample], list[dict[str, Any]]]:
    """Sample ``num_videos`` videos (seeds ``seed``, ``seed + 1``, ...) from ``model`` and reduce them.

    ``motion="random"`` draws one of the paper's m01..m12 per video from its seed (as the official ``generate.py``);
    the time of day follows the official random z_dyn path. ``per_video(name, frames)``, given frames as float
    (T, 3, H, W) in [0, 1], collects per-video metrics while the whole video is still in memory (Table 1's static
    consistency and motion); only the small samples are kept, so memory stays flat in ``num_videos``.
    """
    if fvd_frames is not None and num_frames < fvd_frames:
        raise EvaluationInputError(
            f"--frames {num_frames} is shorter than the FVD clip ({fvd_frames} frames): raise --frames or lower "
            "--fvd-frames."
        )
    paper_motions = [f"m{index:02d}" for index in range(1, 13)]
    samples, reports = [], []
    for index in _progress(range(num_videos), progress, "generating videos"):
        video_seed = seed + index
        chosen = motion
        if motion == "random":
            pick = torch.randint(len(paper_motions), (1,), generator=torch.Generator().manual_seed(video_seed))
            chosen = paper_motions[int(pick)]
        with torch.no_grad():
            frames = model.generate_video(
                num_frames=num_frames, seed=video_seed, motion=chosen, truncation=truncation, batch_size=batch_size
            )
        unit = ((frames.detach().float().cpu().clamp(-1, 1) + 1) / 2).contiguous()
        name = f"seed {video_seed} ({chosen})"
        samples.append(make_video_sample(name, unit, resolution=resolution, fid_every=fid_every, fvd_frames=fvd_frames))
        if per_video is not None:
            reports.append({"video": name, **per_video(name, unit)})
    return samples, reports


def _frames_of(samples: Sequence[VideoSample]) -> Iterable[np.ndarray]:
    for sample in samples:
        yield sample.fid_frames


def _clips_of(samples: Sequence[VideoSample]) -> Iterable[np.ndarray]:
    for sample in samples:
        if sample.clip is not None:
            yield sample.clip


def generated_static_and_motion(
    mask_fn: MaskFn, lpips_fn: Any, flow_method: str
) -> Callable[[str, torch.Tensor], dict[str, Any]]:
    """Per generated video (official ``evaluate.py``): mask from frame 0; static SSIM/LPIPS of frames k >= 1 vs frame 0;
    flow in the dynamic and static regions."""

    def measure(name: str, frames: torch.Tensor) -> dict[str, Any]:
        first = (frames[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        mask = np.asarray(mask_fn(first), dtype=np.float32) > 0.5
        report = evaluate_animation(frames, frames[0], mask, lpips_fn=lpips_fn or False, flow_method=flow_method)
        lpips_curve = report["static_lpips_per_frame"] or []
        return {
            "static_ssim": _mean(report["static_ssim_per_frame"][1:]),
            "static_lpips": _mean(lpips_curve[1:]) if lpips_curve else None,
            "flow_dynamic_x1e3": report["flow_dynamic_x1e3"],
            "flow_static_x1e3": report["flow_static_x1e3"],
            "dynamic_fraction": float(mask.mean()),
        }

    return measure


def evaluate_generators(
    models: Mapping[str, Any],
    real: Sequence[VideoSample],
    *,
    fid_extractor: Any | None,
    fvd_extractor: Any | None,
    num_videos: int,
    num_frames: int,
    seed: int = 0,
    motion: str = "random",
    truncation: float = 1.0,
    batch_size: int = 8,
    resolution: int = 256,
    fid_every: int = 10,
    fvd_frames: int | None = 16,
    per_video: Callable[[str, torch.Tensor], dict[str, Any]] | None = None,
    command: Literal["synthetic", "balance"] = "synthetic",
    progress: bool = False,
) -> EvaluationResult:
    """FID (frames) and FVD (clips) of each generator's videos against ``real``; Table 1 columns with ``per_video``.

    The real statistics are computed once and shared by every model, and every model renders the same seeds and
    motions, so the models differ only by their weights. ``fid_extractor`` / ``fvd_extractor`` None skips that metric.
    """
    if not models:
        raise ValueError("no models given")
    if len(real) < 2:
        raise EvaluationInputError(
            f"the Frechet distances need at least 2 real videos, got {len(real)}: " + ", ".join(s.name for s in real)
        )
    if num_videos < 2:
        raise EvaluationInputError(f"--num-videos must be at least 2 for a covariance, got {num_videos}.")
    columns = BALANCE_COLUMNS if command == "balance" else SYNTHETIC_COLUMNS
    result = EvaluationResult(command, columns, [])
    real_fid = real_fvd = None
    if fid_extractor is not None:
        real_fid = compute_statistics(_frames_of(real), fid_extractor, resolution=resolution)
    if fvd_extractor is not None:
        real_fvd = compute_video_statistics(_clips_of(real), fvd_extractor, num_frames=fvd_frames or 16)
    for label, model in models.items():
        samples, reports = generated_video_samples(
            model,
            num_videos=num_videos,
            num_frames=num_frames,
            seed=seed,
            motion=motion,
            truncation=truncation,
            batch_size=batch_size,
            resolution=resolution,
            fid_every=fid_every,
            fvd_frames=fvd_frames if fvd_extractor is not None else None,
            per_video=per_video,
            progress=progress,
        )
        fid_result = fvd_result = None
        if real_fid is not None:
            fid_result = fid(_frames_of(samples), real_fid, fid_extractor, resolution=resolution)
            result.add_note(f"{label}: {fid_result.describe()}")
        if real_fvd is not None:
            fvd_result = fvd(_clips_of(samples), real_fvd, fvd_extractor, num_frames=fvd_frames or 16)
            result.add_note(f"{label}: {fvd_result.describe()}")
        row: dict[str, Any] = {
            "model": label,
            "FID": None if fid_result is None else fid_result.value,
            "FVD": None if fvd_result is None else fvd_result.value,
            "videos": num_videos,
            "frames": num_frames,
            "size": f"{int(getattr(model, 'resolution', 0))}px",
        }
        if per_video is not None:
            row.update(
                {
                    "SSIM": _mean(r["static_ssim"] for r in reports),
                    "LPIPS": _mean(r["static_lpips"] for r in reports),
                    "Flow x1e-3": _mean(r["flow_dynamic_x1e3"] for r in reports),
                    "flow static x1e-3": _mean(r["flow_static_x1e3"] for r in reports),
                }
            )
        result.rows.append(row)
        result.details.append(
            {"model": label, "fid": fid_result, "fvd": fvd_result, "videos": reports, "row": dict(row)}
        )
    real_frames = sum(int(s.fid_frames.shape[0]) for s in real)
    fake_frames = sum(len(range(0, num_frames, fid_every)) for _ in range(num_videos))
    result.protocol = {
        "generated": f"{num_videos} videos x {num_frames} frames per model (seeds {seed}..{seed + num_videos - 1}, "
        f"motion {motion}, truncation {truncation:g}, random time-of-day path)",
        "real": f"{len(real)} videos",
        "FID": f"{fake_frames} generated vs {real_frames} real frames (every {fid_every}th frame), "
        f"shorter side -> {resolution} px + centre crop"
        + ("" if fid_extractor is None else f", {getattr(fid_extractor, 'name', type(fid_extractor).__name__)}")
        + ("" if fid_extractor is not None else " (skipped)"),
        "FVD": "skipped"
        if fvd_extractor is None
        else f"{num_videos} generated vs {len(real)} real clips of the first {fvd_frames} frames at {resolution} px, "
        f"{getattr(fvd_extractor, 'name', type(fvd_extractor).__name__)}",
    }
    if per_video is not None:
        result.protocol["SSIM, LPIPS"] = "static consistency: masked frame k >= 1 vs frame 0, mask from frame 0"
        result.protocol["Flow x1e-3"] = "mean optical flow in the dynamic mask of frame 0, normalised coordinates"
        result.add_note("R (the supplement's user-study column) is not computed.")
    return result
