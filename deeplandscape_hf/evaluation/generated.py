"""Videos sampled from generators against real videos (supplement Tables 1 and 3): FID on frames, FVD on clips, plus
static consistency and motion of the generated videos for Table 1."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from .animated import MaskFn
from .files import find_videos, read_video_array, video_lengths
from .metrics import (
    compute_statistics,
    compute_video_statistics,
    evaluate_animation,
    fid,
    fvd,
    resize_center_crop,
    to_unit_video,
)
from .results import EvaluationInputError, EvaluationResult, finite_mean, progress_bar

BALANCE_COLUMNS = ("model", "FID", "FVD", "SSIM", "LPIPS", "Flow x1e-3", "flow static x1e-3")
SYNTHETIC_COLUMNS = ("model", "FID", "FVD", "videos", "frames", "size")


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
    lengths = video_lengths(paths)
    if fvd_frames is not None:
        short = [f"{p} ({n} frames)" for p, n in lengths.items() if n < fvd_frames]
        if short:
            raise EvaluationInputError(
                f"FVD uses the first {fvd_frames} frames of every video, but these real videos are shorter: "
                f"{', '.join(short)}. Remove them, or lower --fvd-frames."
            )
    samples = []
    for path in progress_bar(paths, progress, "reading real videos"):
        frames = read_video_array(path)
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
    for index in progress_bar(range(num_videos), progress, "generating videos"):
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
            "static_ssim": finite_mean(report["static_ssim_per_frame"][1:]),
            "static_lpips": finite_mean(lpips_curve[1:]) if lpips_curve else None,
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
                    "SSIM": finite_mean(r["static_ssim"] for r in reports),
                    "LPIPS": finite_mean(r["static_lpips"] for r in reports),
                    "Flow x1e-3": finite_mean(r["flow_dynamic_x1e3"] for r in reports),
                    "flow static x1e-3": finite_mean(r["flow_static_x1e3"] for r in reports),
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
