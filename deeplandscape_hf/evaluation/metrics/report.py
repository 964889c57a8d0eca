"""Per-animation evaluation (the official ``calc_metrics_video.py`` per-video metrics) and the Table 2 layout.

For one animated photo: reconstruction SSIM/LPIPS (frame 0 vs the input), static consistency (masked SSIM/LPIPS of
every frame vs the input over the static region, per frame and averaged), and motion in the dynamic and static regions.
:func:`inversion_table_rows` averages such reports per inversion variant into the supplement's Table 2 rows
(variant, SSIM, LPIPS, Flow x1e-3), which :func:`format_markdown_table` and :func:`write_csv` render.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from ._common import UNIT_RANGE, MissingWeightsError, ValueRange, to_mask, to_unit_images, to_unit_video
from .flow import motion_in_regions
from .image import LPIPSFn, load_lpips, masked_lpips, masked_ssim, ssim

TABLE2_COLUMNS = ("variant", "SSIM", "LPIPS", "Flow x1e-3")

# Supplement Table 2 (inference ablation, 256 px): reconstruction SSIM / LPIPS and sky flow x1e-3. Their LPIPS saw
# [0, 1] inputs (see image.py) and their flow came from Super SloMo, so compare trends, not digits.
PAPER_TABLE2: dict[str, dict[str, float]] = {
    "I2S": {"SSIM": 0.80, "LPIPS": 0.18, "Flow x1e-3": 1.3},
    "MO": {"SSIM": 0.95, "LPIPS": 0.07, "Flow x1e-3": 1.3},
    "E": {"SSIM": 0.54, "LPIPS": 0.43, "Flow x1e-3": 2.2},
    "EO": {"SSIM": 0.95, "LPIPS": 0.07, "Flow x1e-3": 1.5},
    "EOI": {"SSIM": 0.92, "LPIPS": 0.11, "Flow x1e-3": 2.5},
    "EOIF": {"SSIM": 0.96, "LPIPS": 0.04, "Flow x1e-3": 2.3},
    "EOIFS": {"SSIM": 0.94, "LPIPS": 0.05, "Flow x1e-3": 2.6},
}


def _resolve_lpips(lpips_fn: LPIPSFn | None | Literal[False]) -> tuple[LPIPSFn | None, str | None]:
    """The LPIPS function to use and, when there is none, why (reports carry the reason instead of a silent gap)."""
    if lpips_fn is False:
        return None, "LPIPS disabled by the caller"
    if lpips_fn is not None:
        return lpips_fn, None
    try:
        return load_lpips("vgg"), None
    except (MissingWeightsError, ImportError) as error:
        return None, f"LPIPS unavailable: {error}"


def evaluate_animation(
    frames: Any,
    input_image: Any,
    dynamic_mask: Any,
    lpips_fn: LPIPSFn | None | Literal[False] = None,
    flow_method: str = "farneback",
    *,
    value_range: ValueRange = UNIT_RANGE,
    chunk_size: int = 16,
    static_margin_px: float = 0.0,
) -> dict[str, Any]:
    """Metrics of one animation of ``input_image``.

    Args:
        frames: the video, ``(T, 3, H, W)`` float in ``value_range`` or uint8 ``(T, H, W, 3)``.
        input_image: the photo it animates, same size as the frames (``(3, H, W)``, ``(H, W, 3)`` uint8 or PIL);
            crop/resize it first (e.g. :func:`resize_center_crop`), since silently resizing would blur it.
        dynamic_mask: ``(H, W)``, True where things may move (sky, water); its complement is the static region.
        lpips_fn: callable on two [0, 1] batches returning ``(N,)`` distances; ``None`` loads the real LPIPS-VGG
            (entries become None with ``lpips_note`` saying why when its weights are missing); ``False`` skips it.
        flow_method: ``"farneback"``, ``"dis"``, ``"raft"`` or ``"auto"`` (see :func:`resolve_flow_method`).
        chunk_size: frames per SSIM/LPIPS batch.
        static_margin_px: static pixels this close to the dynamic region do not count in the static motion (see
            :func:`motion_in_regions`); the static SSIM/LPIPS still cover the whole static region.

    Returns a dict: ``ssim``, ``lpips`` (reconstruction), ``static_ssim``, ``static_lpips`` (time averages) and their
    ``*_per_frame`` lists, ``flow_dynamic``/``flow_static`` (normalised units), ``*_x1e3``, ``*_px`` (pixels per
    frame), ``flow_ratio``, ``flow_method``, ``flow_note``, ``lpips_note``, ``num_frames``, ``resolution``.
    """
    video = to_unit_video(frames, value_range)
    reference = to_unit_images(input_image, value_range)
    if reference.shape[-2:] != video.shape[-2:]:
        raise ValueError(
            f"input image is {tuple(reference.shape[-2:])} but frames are {tuple(video.shape[-2:])}: "
            "crop/resize the input to the frame size first"
        )
    dynamic = to_mask(dynamic_mask, tuple(video.shape[-2:]))
    static = 1.0 - dynamic
    lpips_fn, lpips_note = _resolve_lpips(lpips_fn)
    references = reference.expand_as(video)

    chunks = range(0, video.shape[0], chunk_size)  # bounded memory: VGG activations of 100 frames take gigabytes
    static_ssim = torch.cat(
        [
            masked_ssim(video[i : i + chunk_size], references[i : i + chunk_size], static, reduction="none")
            for i in chunks
        ]
    )
    report: dict[str, Any] = {
        "num_frames": int(video.shape[0]),
        "resolution": tuple(int(s) for s in video.shape[-2:]),
        "ssim": float(ssim(video[:1], reference)),
        "static_ssim": float(torch.nanmean(static_ssim)),
        "static_ssim_per_frame": [float(v) for v in static_ssim],
        "lpips": None,
        "static_lpips": None,
        "static_lpips_per_frame": None,
        "lpips_note": lpips_note,
    }
    if lpips_fn is not None:
        static_lpips = torch.cat(
            [masked_lpips(video[i : i + chunk_size], references[i : i + chunk_size], static, lpips_fn) for i in chunks]
        )
        report["lpips"] = float(lpips_fn(video[:1], reference)[0])
        report["static_lpips"] = float(static_lpips.mean())
        report["static_lpips_per_frame"] = [float(v) for v in static_lpips]

    motion = motion_in_regions(video, dynamic, flow_method, static_margin_px=static_margin_px)
    report.update(
        flow_dynamic=motion["dynamic"],
        flow_static=motion["static"],
        flow_dynamic_x1e3=motion["dynamic_x1e3"],
        flow_static_x1e3=motion["static_x1e3"],
        flow_dynamic_px=motion["dynamic_px"],
        flow_static_px=motion["static_px"],
        flow_ratio=motion["ratio"],
        flow_method=motion["method"],
        flow_note=motion["note"],
    )
    return report


def _mean(values: Iterable[float | None]) -> float | None:
    """Mean of the finite values; None when there are none (e.g. LPIPS was unavailable for every video)."""
    kept = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(kept) / len(kept) if kept else None


def inversion_table_rows(
    reports: Mapping[str, Mapping[str, Any] | Sequence[Mapping[str, Any]]],
) -> list[dict[str, Any]]:
    """One Table 2 row per inversion variant: mean reconstruction SSIM, LPIPS and dynamic-region flow x1e-3.

    ``reports`` maps a variant name (``"EOIFS"``, ...) to one :func:`evaluate_animation` dict or a list of them (one
    per test photo); means skip missing values. Rows keep the mapping's order and also carry ``count``.
    """
    rows = []
    for variant, value in reports.items():
        items = [value] if isinstance(value, Mapping) else list(value)
        rows.append(
            {
                "variant": variant,
                "SSIM": _mean(r.get("ssim") for r in items),
                "LPIPS": _mean(r.get("lpips") for r in items),
                "Flow x1e-3": _mean(r.get("flow_dynamic_x1e3") for r in items),
                "count": len(items),
            }
        )
    return rows


def _cell(value: Any, float_format: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return float_format.format(value) if isinstance(value, float) else str(value)


def format_markdown_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = TABLE2_COLUMNS, float_format: str = "{:.3f}"
) -> str:
    """A GitHub-markdown table of ``rows`` restricted to ``columns``; missing values print as ``n/a``."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(column), float_format) for column in columns) + " |")
    return "\n".join(lines) + "\n"


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path, columns: Sequence[str] = TABLE2_COLUMNS) -> Path:
    """Write ``rows`` (only ``columns``, in that order) to a CSV file; missing values are empty cells."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({column: "" if row.get(column) is None else row.get(column) for column in columns})
    return path
