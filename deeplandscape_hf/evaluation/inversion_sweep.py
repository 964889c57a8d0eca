"""The inversion sweep (supplement Table 2): each inversion variant on a folder of photos, the generator's raw frames
against the photo's generator-sized crop. The animation itself is injectable (``AnimateFn``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .animated import LPIPSChoice, describe_flow, resolve_lpips
from .metrics import PAPER_TABLE2, TABLE2_COLUMNS, evaluate_animation, inversion_table_rows
from .results import EvaluationInputError, EvaluationResult, finite_mean, progress_bar

TABLE2_ORDER = ("i2s", "mo", "e", "eo", "eoi", "eoif", "eoifs")  # the supplement's row order


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
    for photo, variant in progress_bar(jobs, progress, "inversion sweep"):
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
        row["flow static x1e-3"] = finite_mean(r.get("flow_static_x1e3") for r in items)
        row["seconds"] = finite_mean(r.get("timings", {}).get("total") for r in items)
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
