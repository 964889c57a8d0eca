"""Animated videos against the photos they animate (``deeplandscape evaluate animation``).

Matched by file name (``name.mp4`` or ``name_*.mp4`` <-> ``name.jpg``): reconstruction SSIM/LPIPS of frame 0,
static-region SSIM/LPIPS of every frame, and the amount of motion (mean optical flow, normalised coordinates, x1e-3)
in the dynamic mask and on the static land. LPIPS, flow and the sky segmenter are injectable, so tests run stand-ins.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from .files import (
    ASPECT_TOLERANCE,
    find_masks,
    find_photos,
    find_videos,
    fit_to_size,
    load_mask_for,
    load_photo,
    match_videos_to_photos,
    read_video_array,
    trim_even_padding,
    video_lengths,
    video_stem,
)
from .metrics import MissingWeightsError, evaluate_animation, load_lpips, resolve_flow_method
from .results import EvaluationInputError, EvaluationResult, finite_mean, progress_bar

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


MaskFn = Callable[[np.ndarray], np.ndarray]  # uint8 (H, W, 3) photo -> float (H, W) in [0, 1], 1 = may move
LPIPSChoice = Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None | Literal[False]


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

    ``auto`` uses the ADE20K segmenter (sky + water); when it cannot be loaded (offline, not
    cached) the offline sky-region heuristic is used instead and the note says so, since its masks are rougher.
    """
    from ..animation import segmentation as seg

    if segmentation not in ("auto", "heuristic"):
        raise ValueError(f"segmentation must be 'auto' or 'heuristic', got {segmentation!r}")

    def heuristic(photo: np.ndarray) -> np.ndarray:
        return seg.heuristic_segment(Image.fromarray(photo)).dynamic_mask

    if segmentation == "heuristic":
        note = "dynamic masks from the offline sky-region heuristic (asked for): conservative on hazy or foggy photos"
        return heuristic, "heuristic", note
    model_id = segmenter_id or seg.DEFAULT_SEGMENTER_ID
    try:
        segmenter = seg.SkySegmenter(model_id, device=device)
    except seg.SegmenterUnavailableError as error:
        return (
            heuristic,
            "heuristic",
            "dynamic masks from the offline sky-region heuristic because the segmenter is unavailable "
            f"({error.cause}); heuristic masks leave hazy or foggy land and some water still: pass --masks for "
            "reliable numbers.",
        )

    def segment(photo: np.ndarray) -> np.ndarray:
        return segmenter.segment(Image.fromarray(photo)).dynamic_mask

    return segment, f"segmenter {model_id}", None


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
        AnimationItem(name=video_stem(video), video=video, photo=photos[stem], mask=mask_paths.get(stem))
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
    static_margin_px: float = 0.0,
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
    lengths = video_lengths([item.video for item in items])
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

    bar = progress_bar(items, progress, "evaluating videos")
    for item in bar:
        frames = read_video_array(item.video)
        photo = load_photo(item.photo)
        photo_hw = photo.shape[:2]
        if item.mask is not None:
            dynamic, size_note = load_mask_for(item.mask, item.photo, photo_hw)
            result.add_note(size_note)
            source = "file"
        else:
            dynamic = np.asarray(mask_fn(photo), dtype=np.float32)  # type: ignore[misc]
            source = mask_label
        frames = trim_even_padding(frames, photo_hw)
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
        report = evaluate_animation(
            frames,
            reference,
            mask,
            lpips_fn=lpips_used or False,
            flow_method=flow_used,
            static_margin_px=static_margin_px,
        )
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
        mean[column] = finite_mean(row[column] for row in rows)
    dynamic, static = mean["flow dyn x1e-3"], mean["flow static x1e-3"]
    if dynamic is None or static is None:
        mean["flow ratio"] = None
    else:
        mean["flow ratio"] = dynamic / static if static > 0 else (math.inf if dynamic > 0 else None)
    return mean
