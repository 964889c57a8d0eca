"""Measure what each time-of-day style does to real photos, and whether the generator's square shows.

    python scripts/measure_styles.py [--model MODEL] [--photos examples] [--preset fast] [--frames 8] [--json OUT]
        [--styles NAME ...] [--vocabulary {model,authors}] [--targets {photo,model}]

Per photo (inverted once) and per style the model offers (and the photo's own light, "keep"): the mean CIELAB of
the sky (top quarter) and land (bottom quarter) of the last frame against the photo's, and the seam figure of every
frame. The seam figure is the worst column or row of a frame whose mean absolute 8 px gradient exceeds the photo's
at the same place, in 8-bit levels: a pasted square shows as whole columns and rows of edges the photo does not have.
Any edge that moves into a column counts too (a cloud's, a reflection's), so the same figure is also given over the
columns and rows within 8 px of the generator's square ("border seam"), where a pasted square would show.

Targets (checked per photo and printed as pass/FAIL): deep_night sky L* <= 0.5x the photo's and land L* <= 0.6x;
warm_sunset sky b* >= +12 and a* >= +4 over the photo's; blue_hour sky L* <= 0.7x with b* below the photo's;
blue_day and bright_day keep the sky within dE 15 (CIE76) of the photo's; the seam figure <= 5 in every frame.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deeplandscape_hf import DeepLandscapePipeline
from deeplandscape_hf.animation.images import load_image
from deeplandscape_hf.evaluation.metrics.report import format_markdown_table
from deeplandscape_hf.motion.style_calibration import srgb_to_lab
from deeplandscape_hf.training.data import find_images

REPO = Path(__file__).resolve().parents[1]
KEEP = "keep"
SEAM_STEP_PX = 8
MAX_SEAM_LEVELS = 5.0


def quarter_labs(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean CIELAB of the top and bottom quarter of a uint8 (H, W, 3) image."""
    lab = srgb_to_lab(torch.tensor(frame, dtype=torch.float32) / 255).numpy()
    quarter = max(1, frame.shape[0] // 4)
    return lab[:quarter].mean(axis=(0, 1)), lab[-quarter:].mean(axis=(0, 1))


def seam_levels(
    frame: np.ndarray, photo: np.ndarray, step: int = SEAM_STEP_PX, near: tuple[list[int], list[int]] | None = None
) -> float:
    """Worst column or row excess of the mean absolute ``step`` px gradient over the photo's, in 8-bit levels.

    ``near``: (columns, rows) of the frame; only the gradients that span one of them count (a square's border).
    """
    frame, photo = frame.astype(np.float32), photo.astype(np.float32)

    def profile(image: np.ndarray, axis: int) -> np.ndarray:
        return np.abs(_shifted(image, step, axis)).mean(axis=(1 - axis, 2))  # per column (axis 1) or row (axis 0)

    excess = []
    for axis in (1, 0):
        values = profile(frame, axis) - profile(photo, axis)  # index i: the gradient from i to i + step
        if near is not None:
            lines = near[0] if axis == 1 else near[1]
            spans = {i for line in lines for i in range(line - step, line + 1) if 0 <= i < len(values)}
            values = values[sorted(spans)] if spans else values[:0]
        excess.append(values.max(initial=0.0))
    return float(max(excess))


def square_border(inverted, size: tuple[int, int]) -> tuple[list[int], list[int]]:
    """Columns and rows of a frame of ``size`` (W, H) where the generator's square ends inside the frame."""
    width, height = size
    scale_x, scale_y = width / inverted.photo.width, height / inverted.photo.height
    box = inverted.box
    columns = [round(x * scale_x) for x in (box.left, box.right) if 0 < round(x * scale_x) < width]
    rows = [round(y * scale_y) for y in (box.top, box.bottom) if 0 < round(y * scale_y) < height]
    return columns, rows


def _shifted(image: np.ndarray, step: int, axis: int) -> np.ndarray:
    if axis == 1:
        return image[:, step:] - image[:, :-step]
    return image[step:] - image[:-step]


def _targets() -> dict[str, Callable[[dict], bool]]:
    def day(row: dict) -> bool:
        return row["sky dE"] <= 15

    return {
        "deep_night": lambda row: row["sky L ratio"] <= 0.5 and row["land L ratio"] <= 0.6,
        "warm_sunset": lambda row: row["sky db"] >= 12 and row["sky da"] >= 4,
        "blue_hour": lambda row: row["sky L ratio"] <= 0.7 and row["sky db"] < 0,
        "blue_day": day,
        "bright_day": day,
    }


def measure_photo(pipe: DeepLandscapePipeline, path: Path, styles: list[str], preset: str, frames: int) -> list[dict]:
    photo = load_image(path)
    inverted = pipe.invert(photo, preset=preset, generator=torch.Generator().manual_seed(0))
    targets = _targets()
    rows = []
    for style in [KEEP, *styles]:
        output = pipe.animate(inverted, style=None if style == KEEP else style, num_frames=frames)
        video = [np.asarray(frame.convert("RGB")) for frame in output.frames]
        height, width = video[-1].shape[:2]
        reference = np.asarray(photo.convert("RGB").resize((width, height), Image.Resampling.LANCZOS))
        sky, land = quarter_labs(video[-1])
        sky0, land0 = quarter_labs(reference)
        row = {
            "photo": path.stem,
            "style": style,
            "sky L*a*b*": " ".join(f"{v:.0f}" for v in sky),
            "photo sky": " ".join(f"{v:.0f}" for v in sky0),
            "sky L ratio": float(sky[0] / max(sky0[0], 1.0)),
            "land L ratio": float(land[0] / max(land0[0], 1.0)),
            "sky da": float(sky[1] - sky0[1]),
            "sky db": float(sky[2] - sky0[2]),
            "sky dE": float(np.linalg.norm(sky - sky0)),
            "seam": max(seam_levels(frame, reference) for frame in video),
            "border seam": max(
                seam_levels(frame, reference, near=square_border(inverted, (width, height))) for frame in video
            ),
        }
        check = targets.get(style)
        seam_ok = row["seam"] <= MAX_SEAM_LEVELS
        row["target"] = ("pass" if check(row) else "FAIL") if check else "-"
        row["seam ok"] = "pass" if seam_ok else "FAIL"
        rows.append(row)
    return rows


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --preset, --vocabulary and --targets: how the style scripts choose a model and what its style names
    mean."""
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the bundled model)")
    parser.add_argument("--preset", default="fast", choices=("fast", "balanced", "paper"))
    parser.add_argument(
        "--vocabulary",
        choices=("model", "authors"),
        default="model",
        help="what the style names mean: the model's own (its pipeline.json) or the authors' targets, to see what "
        "they do on a model that does not offer them",
    )
    parser.add_argument(
        "--targets",
        choices=("photo", "model"),
        default="photo",
        help="photo: each style's target searched on from the model's on each photo, as the pipeline does; model: "
        "the calibrated targets as they are",
    )


def load_styled_pipeline(args: argparse.Namespace) -> tuple[DeepLandscapePipeline, list[str]]:
    """The pipeline of ``--model`` with the ``--vocabulary`` asked for, and the style names it can render."""
    pipe = DeepLandscapePipeline.from_pretrained(args.model)
    if args.vocabulary == "authors":
        pipe.config.styles = None  # PipelineConfig: no vocabulary means the authors'
    pipe.config.fit_styles_to_photo = args.targets == "photo"
    pipe.set_progress_bar_config(disable=True)
    offered = list(pipe.config.style_vocabulary().reachable) if pipe.dynamics is not None else []
    return pipe, offered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument("--photos", type=Path, default=REPO / "examples", help="folder of photos")
    parser.add_argument("--frames", type=int, default=8, help="frames per video (every frame's seam is measured)")
    parser.add_argument("--styles", nargs="*", default=None, help="styles to measure (default: all the model offers)")
    parser.add_argument("--json", type=Path, default=None, help="also write every row to this JSON file")
    args = parser.parse_args()
    pipe, offered = load_styled_pipeline(args)
    styles = offered if args.styles is None else args.styles
    photos = find_images(args.photos)
    print(f"model {args.model or 'bundled'}; preset {args.preset}; {args.frames} frames; styles {', '.join(styles)}")
    rows: list[dict] = []
    for path in photos:
        started = time.perf_counter()
        rows.extend(measure_photo(pipe, path, styles, args.preset, args.frames))
        print(f"{path.name}: {time.perf_counter() - started:.0f} s", flush=True)
    columns = ["photo", "style", "sky L*a*b*", "photo sky", "sky L ratio", "land L ratio", "sky da", "sky db"]
    columns += ["sky dE", "seam", "border seam", "target", "seam ok"]
    print(format_markdown_table(rows, columns, float_format="{:.2f}"))
    summary = []
    for style in [KEEP, *styles]:
        mine = [row for row in rows if row["style"] == style]
        passed = sum(row["target"] == "pass" for row in mine)
        summary.append(
            {
                "style": style,
                "photos": len(mine),
                "target passed": f"{passed}/{len(mine)}" if mine and mine[0]["target"] != "-" else "-",
                "seam passed": f"{sum(row['seam ok'] == 'pass' for row in mine)}/{len(mine)}",
                "worst seam": max((row["seam"] for row in mine), default=float("nan")),
                "worst border seam": max((row["border seam"] for row in mine), default=float("nan")),
            }
        )
    print(format_markdown_table(summary, list(summary[0]), float_format="{:.1f}"))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
