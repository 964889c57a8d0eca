"""``deeplandscape generate``: fully synthetic landscape videos from a generator (official ``generate.py``).

Everything the user can get wrong (frame count, motion preset, output path) is checked before the model is loaded, and
the style name against the model's own vocabulary right after, before any frame is rendered: a mistake costs no time
and leaves no file behind.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..cli import HelpFormatter

# From the torch-free vocabulary module, so that `deeplandscape --help` needs no torch import.
from ..vocabulary import DTYPE_CHOICES, MOTION_PRESET_NAMES, PAPER_MOTION_NAMES, bundled_model_styles

if TYPE_CHECKING:
    from ..motion.styles import StyleVocabulary

KEEP_STYLE = "keep"  # synthetic.KEEP_STYLE
OUTPUT_SUFFIXES = (".mp4", ".gif", ".webp", ".png")
PIPELINE_JSON = "pipeline.json"  # pipeline.PIPELINE_CONFIG_NAME (kept here: --help stays fast)
RANDOM_MOTION = "random"  # official generate.py draws one homography CSV per video


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``generate``."""
    parser = subparsers.add_parser(
        "generate",
        help="render fully synthetic landscape videos",
        description=(
            "Render synthetic landscape videos: each video is one random sample whose clouds move (the dynamic "
            "noise is warped by a homography every frame) and whose time of day can change (z_dyn). Several "
            "videos are tiled side by side in one file, like the authors' generate.py, unless --separate-files."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--model",
        default=None,
        help="model folder or Hugging Face hub id (default: the model bundled with deeplandscape-hf)",
    )
    parser.add_argument("--num-videos", type=int, default=1, help="how many videos (samples) to render")
    parser.add_argument("--frames", type=int, default=100, help="frames per video (official 100)")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the written video (official 30)")
    parser.add_argument(
        "--motion",
        default="m01",
        help=f"cloud motion: a preset ({', '.join(MOTION_PRESET_NAMES)}), a CSV file of 4 rows 'dx dy', "
        f"'{RANDOM_MOTION}' (one of m01..m12 per video, as the official script) or 'none'",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="multiplies the motion per frame (the paper uses 0.5, 1, 2.5, 4)"
    )
    parser.add_argument(
        "--style",
        default=None,
        help="time of day: a name the model offers (its pipeline.json; the bundled model's: "
        f"{', '.join(bundled_model_styles()) or 'none'}; 'day_cycle' walks through them where there are two or more), "
        "or 'keep' (the sample's own lighting); default: a random slerp between two lightings over the video "
        "(official)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the first video; video i uses seed + i")
    parser.add_argument(
        "--truncation", type=float, default=0.7, help="truncation psi: lower is more typical, 1 is none (official 0.7)"
    )
    parser.add_argument(
        "--loop", action="store_true", help="seamless loop: the last frame leads back into the first (GIF/WebP)"
    )
    parser.add_argument(
        "--horizon",
        type=float,
        default=0.5,
        help="height fraction (0 = top) of the horizon: motion is mirrored below it, like water (official 0.5)",
    )
    parser.add_argument("--mixing", action="store_true", help="style mixing with a second latent, as the authors")
    parser.add_argument(
        "--batch-size", type=int, default=8, help="frames rendered together; lower it if memory is short"
    )
    parser.add_argument("--device", default="auto", help="'cpu', 'cuda', 'cuda:1', ... or 'auto' (GPU if present)")
    parser.add_argument(
        "--dtype",
        choices=DTYPE_CHOICES,
        default="auto",
        help="precision of the synthesis: bfloat16 = bf16 autocast; auto = fp32 for now (bf16 frames missed the 40 dB "
        "PSNR bound against fp32 with the official-size generator)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("deeplandscape.mp4"),
        help="output: .mp4 (H.264), .gif, .webp, or a folder (or .png name) for numbered PNG frames",
    )
    parser.add_argument(
        "--separate-files",
        action="store_true",
        help="one file per video (name_000.mp4, ...) instead of all videos side by side in one file",
    )
    parser.add_argument("--quality", type=int, default=7, help="1 (smallest) to 10 (best) for mp4 and WebP")
    parser.set_defaults(func=run)
    return parser


def _check_output(out: Path) -> None:
    """Fail before rendering when the output cannot be written; creates nothing."""
    from ..cli import CommandError

    suffix = out.suffix.lower()
    if suffix and suffix not in OUTPUT_SUFFIXES:
        raise CommandError(
            f"cannot write '{out}': use a name ending in {', '.join(OUTPUT_SUFFIXES)}, or a folder for PNG frames."
        )
    existing = out.parent if suffix else out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise CommandError(f"cannot write '{out}': '{existing}' is not a writable folder. Choose another --out.")
    if not suffix and out.exists() and not out.is_dir():
        raise CommandError(f"cannot write PNG frames to '{out}': it is a file. Choose another --out.")


def _separate_path(out: Path, index: int) -> Path:
    if out.suffix:
        return out.with_name(f"{out.stem}_{index:03d}{out.suffix}")
    return out / f"video_{index:03d}"


def _validate(args: argparse.Namespace) -> None:
    from ..cli import CommandError
    from ..motion.homographies import get_motion
    from ..networks.synthetic import NO_MOTION

    for name, value, low in (("--frames", args.frames, 1), ("--num-videos", args.num_videos, 1)):
        if value < low:
            raise CommandError(f"{name} must be >= {low}, got {value}.")
    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {args.batch_size}.")
    if not args.fps > 0:
        raise CommandError(f"--fps must be positive, got {args.fps}.")
    if not 1 <= args.quality <= 10:
        raise CommandError(f"--quality must be from 1 to 10, got {args.quality}.")
    if not 0 <= args.horizon <= 1:
        raise CommandError(f"--horizon must be in [0, 1] (0 = top), got {args.horizon}.")
    if args.motion.lower() not in (RANDOM_MOTION, *NO_MOTION):
        try:
            get_motion(args.motion, args.speed)
        except (ValueError, FileNotFoundError) as error:
            raise CommandError(f"--motion: {error}") from None
    elif args.speed <= 0:
        raise CommandError(f"--speed must be positive, got {args.speed}.")
    _check_output(args.out)


def _device(name: str):
    import torch

    from ..cli import CommandError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise CommandError(f"--device: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CommandError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu.")
    return device


def _model_vocabulary(model_path: str | os.PathLike) -> StyleVocabulary:
    """What style names mean for this model: the ``styles`` of its pipeline.json; the authors' without one (a bare
    generator folder)."""
    from ..motion.styles import StyleVocabulary
    from ..networks.hub import resolve_model_folder

    config = resolve_model_folder(model_path) / PIPELINE_JSON
    styles = json.loads(config.read_text()).get("styles") if config.is_file() else None
    return StyleVocabulary.from_json(styles)


def run(args: argparse.Namespace) -> int:
    """Validate, load the model, render every video chunk by chunk under one progress bar, write the file(s)."""
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from ..animation.video import frames_to_uint8, write_video
    from ..cli import CommandError
    from ..motion.styles import style_path
    from ..networks.generator import DeepLandscapeGenerator
    from ..networks.hub import default_model_path
    from ..networks.precision import resolve_dtype
    from ..networks.synthetic import plan_video

    _validate(args)
    device = _device(args.device)
    model_path = args.model if args.model else default_model_path()
    model = DeepLandscapeGenerator.from_pretrained(model_path).to(device)
    model.eval()
    vocabulary = _model_vocabulary(model_path)
    if args.style not in (None, KEEP_STYLE):
        try:
            style_path(args.style, vocabulary=vocabulary)
        except ValueError as error:
            raise CommandError(f"--style: {error}") from None

    videos: list[np.ndarray] = []  # uint8 (T, H, W, 3): a quarter of the float frames' memory
    written: list[Path] = []
    total = args.num_videos * args.frames
    with tqdm(total=total, desc="generating", unit="frame") as bar:
        for index in range(args.num_videos):
            seed = args.seed + index
            motion = args.motion
            if motion.lower() == RANDOM_MOTION:
                choice = torch.randint(len(PAPER_MOTION_NAMES), (1,), generator=torch.Generator().manual_seed(seed))
                motion = PAPER_MOTION_NAMES[int(choice)]
            bar.set_postfix(video=f"{index + 1}/{args.num_videos}", motion=motion)
            plan = plan_video(
                model,
                args.frames,
                seed=seed,
                motion=motion,
                speed=args.speed,
                style=args.style,
                truncation=args.truncation,
                loop=args.loop,
                horizon=args.horizon,
                mixing=args.mixing,
                vocabulary=vocabulary,
            )
            frames = np.empty((args.frames, model.resolution, model.resolution, 3), dtype=np.uint8)
            for chunk, images in plan.iter_chunks(batch_size=args.batch_size, dtype=args.dtype):
                frames[chunk] = frames_to_uint8(images)
                bar.update(chunk.stop - chunk.start)
            if args.separate_files:
                written.append(write_video(frames, _separate_path(args.out, index), args.fps, args.quality))
            else:
                videos.append(frames)
    if not args.separate_files:
        tiled = np.concatenate(videos, axis=2)  # side by side, like the official script's single row
        written.append(write_video(tiled, args.out, args.fps, args.quality))
    size = f"{model.resolution * (1 if args.separate_files else args.num_videos)}x{model.resolution}"
    precision = str(resolve_dtype(args.dtype, model.device)).removeprefix("torch.")
    for path in written:
        print(f"wrote {path} ({args.frames} frames, {size}, {args.fps:g} fps, {precision})")
    return 0
