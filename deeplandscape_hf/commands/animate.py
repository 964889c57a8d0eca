"""``deeplandscape animate PHOTO``: turn a landscape photo into a video with moving clouds and water."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from ..cli import HelpFormatter
from ..vocabulary import DTYPE_CHOICES, bundled_model_styles

MODES = ("e", "eo", "eoi", "eoif", "eoifs", "mo", "i2s")  # inversion.INVERSION_MODES (kept here: --help stays fast)
PRESETS = ("paper", "balanced", "fast")  # inversion.PRESETS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``animate``."""
    parser = subparsers.add_parser(
        "animate",
        help="animate a landscape photo (moving sky and water, optional time-of-day change)",
        description=(
            "Animate a real landscape photo the DeepLandscape way: find the sky and water (segmentation model, "
            "your --mask, or an explicit heuristic), invert the photo into the generator (encoder + latent "
            "optimisation + generator fine-tuning, variant --mode), then warp the dynamic noise frame by frame so "
            "clouds drift and water mirrors them, optionally moving the time of day with --style. By default the "
            "animated regions are blended into the photo at its own resolution (see --no-composite). Inverting "
            "takes most of the time; with --cache-dir a second run on the same photo (another style or motion) "
            "skips it."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("photo", type=Path, help="the photo (JPEG, PNG, WebP, HEIC, ...; any size)")
    parser.add_argument(
        "--model",
        default=None,
        help="model folder or hub id (generator + encoder/ + dynamics/ + pipeline.json); default: the bundled model",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output: .mp4 (H.264), .gif or .webp (loops), or a folder for numbered PNG frames; "
        "default: PHOTO-STEM_animated.mp4 in the current folder",
    )
    parser.add_argument("--mask", type=Path, default=None, help="PNG of what may move (white or opaque = animate)")
    parser.add_argument(
        "--save-mask",
        type=Path,
        default=None,
        help="also write the movable mask that was used as a PNG (white = animated, at the video's size): check "
        "it, paint over it and pass it back with --mask",
    )
    parser.add_argument("--mode", choices=MODES, default=None, help="inversion variant (default: the model's, eoifs)")
    parser.add_argument(
        "--style",
        default=None,
        help="time of day to move to (needs network A); the names a model can render are in its pipeline.json, "
        f"the bundled model's: {', '.join(bundled_model_styles()) or 'none (see its model card)'}",
    )
    parser.add_argument(
        "--motion", default=None, help="motion preset m01..m12 or man1..man5, or a CSV of 4x2 shifts (default: man1)"
    )
    parser.add_argument("--speed", type=float, default=1.0, help="motion speed multiplier (paper: 0.5, 1, 2.5, 4)")
    parser.add_argument("--frames", type=int, default=None, help="number of frames (default: the model's, 60)")
    parser.add_argument("--fps", type=float, default=None, help="frames per second (default: the model's, 30)")
    parser.add_argument("--loop", action="store_true", help="seamless loop: the video ends where it starts")
    parser.add_argument(
        "--preset",
        choices=PRESETS,
        default=None,
        help="speed/quality: paper (the paper's 500 + 500 iterations), balanced (default), fast",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random parts (random noise starts)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... or auto (cuda when available)")
    parser.add_argument(
        "--dtype",
        choices=DTYPE_CHOICES,
        default="auto",
        help="precision of rendering: bfloat16 = bf16 autocast; auto = fp32 for now (bf16 frames missed the 40 dB "
        "PSNR bound against fp32 with the official-size generator); inversion and fine-tuning always run in fp32",
    )
    parser.add_argument(
        "--perceptual",
        choices=("auto", "vgg", "lpips", "none"),
        default="auto",
        help="perceptual loss of the inversion: vgg (paper; needs torchvision's VGG19 weights in the torch cache), "
        "lpips, none (L1 only: faster but blurrier), or auto (vgg when its weights are cached, else none, said)",
    )
    parser.add_argument(
        "--segmentation",
        choices=("auto", "model", "heuristic", "none"),
        default="auto",
        help="how to find sky and water without --mask: model (the model's ADE20K segmenter, must be downloadable "
        "or cached), heuristic (offline sky-region segmenter, no weights), auto (model, else heuristic with a "
        "warning), none (nothing moves; only --style changes)",
    )
    parser.add_argument(
        "--motion-source",
        choices=("hybrid", "generator"),
        default=None,
        help="what moves sky and water in the composited video: hybrid (the photo's own clouds and water moved at "
        "full resolution along the motion's flow field over the whole photo, the model's change of light on top) or "
        "generator (the model's own frames of its centre square, the paper's output); default: the model's, hybrid",
    )
    parser.add_argument(
        "--max-size",
        type=_max_size,
        default=None,
        metavar="PX|full",
        help="longest side of the video in px, or 'full' for the photo's own size (where memory allows: every frame "
        "is held in memory); default: the model's, 1920, which every browser plays. Larger photos are decoded "
        "straight at this size, so a 200 MP camera file costs little more than a 12 MP one",
    )
    parser.add_argument(
        "--no-composite",
        action="store_true",
        help="write the generator's raw square frames instead of blending them into the full-resolution photo",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="keep inversions here to reuse them next time (the most recently used, within 4 GB)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)
    return parser


def _max_size(value: str) -> int | str:
    """``--max-size``: a positive number of px, or 'full' / 0 for the photo's own size."""
    if value.strip().lower() in ("full", "0"):
        return "full"
    if not value.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of pixels (e.g. 1920) or 'full', got {value!r}")
    return int(value)


@contextlib.contextmanager
def _photo_size_notes(show: bool) -> Iterator[None]:
    """Print the line the image loader logs when it works on a large photo at a reduced size (see --max-size)."""
    images_logger = logging.getLogger("deeplandscape_hf.animation.images")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("note: %(message)s"))
    level = images_logger.level
    if show:
        images_logger.setLevel(logging.INFO)
        images_logger.addHandler(handler)
    try:
        yield
    finally:
        images_logger.removeHandler(handler)
        images_logger.setLevel(level)


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"--device {name!r} is not a device name (use cpu, cuda, cuda:0, ... or auto).") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name} asked for CUDA, but no CUDA device is available here. Use --device cpu.")
    return str(device)


def default_output(photo: Path) -> Path:
    """``<stem>_animated.mp4`` in the current folder (the photo's folder may not be writable)."""
    return Path.cwd() / f"{photo.stem}_animated.mp4"


def run(args: argparse.Namespace) -> int:
    """Load the model, animate, write the video; user errors reach cli.main as exceptions with clear messages."""
    import torch

    from ..animation.perceptual import PerceptualWeightsUnavailableError
    from ..animation.pipeline import DeepLandscapePipeline
    from ..animation.segmentation import SegmenterUnavailableError
    from ..animation.video import write_video
    from ..cli import CommandError

    if args.frames is not None and args.frames < 1:
        raise CommandError(f"--frames must be at least 1, got {args.frames}.")
    if args.fps is not None and not args.fps > 0:
        raise CommandError(f"--fps must be positive, got {args.fps}.")
    if not args.speed > 0:
        raise CommandError(f"--speed must be positive, got {args.speed}.")
    if not args.photo.exists():
        raise CommandError(f"'{args.photo}' does not exist. Check the path to the photo.")
    if args.mask is not None and not args.mask.exists():
        raise CommandError(f"mask '{args.mask}' does not exist.")
    out = args.out or default_output(args.photo)
    if out.suffix.lower() not in ("", ".mp4", ".gif", ".webp", ".png") and not out.is_dir():
        raise CommandError(f"--out '{out}': use a name ending in .mp4, .gif or .webp, or a folder for PNG frames.")
    if args.save_mask is not None and args.save_mask.suffix.lower() != ".png":
        raise CommandError(f"--save-mask '{args.save_mask}': use a name ending in .png.")
    _check_outputs(args, out)
    if args.perceptual == "none":
        print(
            "warning: --perceptual none fits the photo with L1 only; the reconstruction will be blurrier than with "
            "the paper's VGG perceptual loss.",
            file=sys.stderr,
        )

    pipe = DeepLandscapePipeline.from_pretrained(
        args.model, device=_device(args.device), cache_dir=args.cache_dir, dtype=args.dtype
    )
    pipe.set_progress_bar_config(disable=args.quiet)
    generator = torch.Generator().manual_seed(args.seed)
    try:
        with _photo_size_notes(show=not args.quiet):
            result = _animate(pipe, args, generator)
    except (SegmenterUnavailableError, PerceptualWeightsUnavailableError) as error:
        raise CommandError(str(error)) from error
    written = write_video(result.frames, out, fps=result.fps)
    if args.save_mask is not None:
        print(f"wrote {_save_mask(result.mask, args.save_mask)}: the movable mask (white = animated)")
    size = result.frames[0].size
    cached = " (inversion reused from the cache)" if result.cache_hit else ""
    print(
        f"wrote {written}: {len(result.frames)} frames, {size[0]}x{size[1]}, {result.fps:g} fps, mode {result.mode}"
        f"{cached}; {result.timings['total']:.1f} s"
    )
    return 0


def _check_outputs(args: argparse.Namespace, out: Path) -> None:
    """Before any work: the outputs can be written (folders created), and none of them is an input."""
    from ..animation.video import DEFAULT_FPS, VideoWriteError, check_video_path
    from ..cli import CommandError

    inputs = {"the photo": args.photo, "the mask": args.mask}
    outputs = {"--out": out, "--save-mask": args.save_mask}
    for flag, output in outputs.items():
        for name, given in inputs.items():
            if output is not None and given is not None and output.exists() and os.path.samefile(output, given):
                raise CommandError(f"{flag} '{output}' is {name}; writing there would replace it. Choose another path.")
    if args.save_mask is not None and args.save_mask.resolve() == out.resolve():
        raise CommandError(f"--save-mask and --out are both '{out}'; give them different paths.")
    try:
        check_video_path(out, DEFAULT_FPS if args.fps is None else args.fps)
        if args.save_mask is not None:
            check_video_path(args.save_mask)  # a .png name: its folder is checked as for PNG frames
    except (ValueError, VideoWriteError) as error:
        raise CommandError(str(error)) from error


def _save_mask(mask, path: Path) -> Path:
    """Write the mask PNG atomically: a temporary sibling renamed into place, never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial.png")
    mask.save(partial)
    os.replace(partial, path)
    return path


def _animate(pipe, args: argparse.Namespace, generator):
    """Call the pipeline; warnings about the mask or segmentation are printed as plain lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pipe(
            str(args.photo),
            mask=None if args.mask is None else str(args.mask),
            mode=args.mode,
            style=args.style,
            motion=args.motion,
            speed=args.speed,
            num_frames=args.frames,
            fps=args.fps,
            loop=args.loop,
            preset=args.preset,
            generator=generator,
            composite=not args.no_composite,
            motion_source=args.motion_source,
            perceptual=args.perceptual,
            segmentation=args.segmentation,
            max_output_side=args.max_size,
        )
    for warning in caught:
        if issubclass(warning.category, UserWarning) and not (
            args.perceptual == "none" and "perceptual" in str(warning.message)
        ):
            print(f"warning: {warning.message}", file=sys.stderr)
    return result
