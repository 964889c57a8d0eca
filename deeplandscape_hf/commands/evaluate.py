"""``deeplandscape evaluate``: the supplement's metrics on your own files (Tables 1-3).

Subcommands:

- ``animation VIDEOS... --inputs PHOTOS``: animated videos vs the photos they animate (reconstruction, static
  consistency, motion in the sky/water vs on the land).
- ``synthetic --model M --real DIR``: FID and FVD of a generator's videos against real videos.
- ``inversion PHOTOS --model M``: the inversion-variant sweep of Table 2.
- ``balance MODEL... --real DIR``: Table 1, trained models side by side (FID, FVD, static consistency, motion).
- ``masks PHOTOS... --labels DIR``: the offline segmenters (and the ADE20K model when cached) against hand-drawn
  sky / water labels.

Heavy imports (torch, OpenCV, the models) happen inside the commands so that ``deeplandscape --help`` stays instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..cli import HelpFormatter

VARIANTS = ("i2s", "mo", "e", "eo", "eoi", "eoif", "eoifs")  # evaluation.TABLE2_ORDER (supplement Table 2 order)
PRESETS = ("paper", "balanced", "fast")  # inversion.PRESETS
FLOW_CHOICES = ("auto", "raft", "farneback", "dis")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``evaluate`` and its four subcommands."""
    parser = subparsers.add_parser(
        "evaluate",
        help="measure animations, inversions and generators with the paper's metrics",
        description=(
            "Measure results the way the DeepLandscape supplement does: SSIM/LPIPS of the reconstruction, masked "
            "SSIM/LPIPS of the static land over time, the amount of motion as mean optical flow (x1e-3, normalised "
            "coordinates), FID and FVD. Every table is printed as markdown together with its protocol and notes; "
            "--json and --csv save it."
        ),
    )
    parser.set_defaults(func=lambda args: _print_help(parser))
    commands = parser.add_subparsers(dest="evaluation", metavar="WHAT")
    _add_animation(commands)
    _add_synthetic(commands)
    _add_inversion(commands)
    _add_balance(commands)
    _add_masks(commands)
    return parser


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _common(parser: argparse.ArgumentParser, *, flow: bool = True, lpips: bool = True) -> None:
    """Options every subcommand shares: outputs, device, progress, and the estimators."""
    parser.add_argument("--json", type=Path, default=None, help="also write the full report (per-frame curves) here")
    parser.add_argument("--csv", type=Path, default=None, help="also write the table as CSV here")
    if flow:
        parser.add_argument(
            "--flow",
            choices=FLOW_CHOICES,
            default="auto",
            help="optical flow: auto = torchvision RAFT-small when its weights are in the torch cache, else OpenCV "
            "Farneback (the output says which ran)",
        )
    if lpips:
        parser.add_argument(
            "--no-lpips", action="store_true", help="skip LPIPS (its columns show n/a); it needs VGG16 weights"
        )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... or auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_animation(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "animation",
        help="animated videos vs the photos they animate",
        description=(
            "Evaluate animations of real photos. Each video is matched to its photo by name ('NAME.mp4' or "
            "'NAME_anything.mp4' <-> 'NAME.jpg'). Reported per video and on average: SSIM and LPIPS of frame 0 vs "
            "the photo (at the video's size), masked SSIM/LPIPS of the static region of every frame vs the photo, "
            "and the amount of motion in the dynamic mask (sky, water) and on the static land, with their ratio. "
            "The mask is the PNG in --masks, else the sky/water segmenter (or, when it cannot be loaded, the colour "
            "heuristic, with a note)."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "videos",
        nargs="+",
        type=Path,
        help="video files (.mp4, .gif, .webp, ...), frame folders, or folders holding them",
    )
    parser.add_argument("--inputs", nargs="+", type=Path, required=True, help="the input photos, or their folder")
    parser.add_argument("--masks", type=Path, default=None, help="folder of masks NAME.png (white = may move)")
    parser.add_argument(
        "--segmentation",
        choices=("auto", "heuristic"),
        default="auto",
        help="without --masks: the ADE20K segmenter (falls back to the heuristic when unavailable) or the heuristic",
    )
    parser.add_argument("--segmenter", default=None, help="segmentation model id or folder (default SegFormer-B0)")
    parser.add_argument("--max-side", type=int, default=None, help="downscale frames whose longer side exceeds this")
    parser.add_argument(
        "--static-margin",
        type=float,
        default=0.0,
        help="leave land within this many pixels of the moving region out of the land's motion: a flow estimator's "
        "window reports the sky's motion on the still pixels right beside it (Farneback's window is 15 px; 0 = the "
        "paper's protocol)",
    )
    _common(parser)
    parser.set_defaults(func=run_animation)


def _add_generation_options(parser: argparse.ArgumentParser) -> None:
    """Options of the sampled videos and the distribution metrics (synthetic and balance)."""
    parser.add_argument("--real", type=Path, required=True, help="folder of real videos (files or frame folders)")
    parser.add_argument("--num-videos", type=int, default=64, help="videos sampled per model")
    parser.add_argument("--frames", type=int, default=32, help="frames per sampled video")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first video; video i uses seed + i")
    parser.add_argument("--motion", default="random", help="motion preset, or 'random' (one of m01..m12 per video)")
    parser.add_argument("--truncation", type=float, default=1.0, help="truncation psi (1 = none, usual for FID)")
    parser.add_argument("--batch-size", type=int, default=8, help="frames rendered together")
    parser.add_argument("--resolution", type=int, default=256, help="shorter side + centre crop before the metrics")
    parser.add_argument("--fid-every", type=int, default=10, help="FID uses frames 0, N, 2N, ... of every video")
    parser.add_argument("--fvd-frames", type=int, default=16, help="FVD clip length (first frames of each video)")
    parser.add_argument("--max-real", type=int, default=None, help="use at most this many real videos")
    parser.add_argument(
        "--inception-weights",
        type=Path,
        default=None,
        help="pytorch-fid pt_inception-2015-12-05-*.pth for published-comparable FID (default: torchvision's "
        "Inception-V3 from the torch cache)",
    )
    parser.add_argument(
        "--i3d", type=Path, default=None, help="I3D TorchScript for standard FVD (default: R(2+1)D-18 stand-in)"
    )
    parser.add_argument("--no-fid", action="store_true", help="skip FID")
    parser.add_argument("--no-fvd", action="store_true", help="skip FVD")


def _add_synthetic(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "synthetic",
        help="FID and FVD of a generator's videos vs real videos",
        description=(
            "Sample videos from a generator (seeds seed..seed+N-1, random motion preset and time-of-day path per "
            "video, as the authors' generate.py) and compare them with real videos: FID on Inception-V3 pool3 "
            "features of every --fid-every-th frame, FVD on clips of the first --fvd-frames frames. The protocol "
            "(counts, resolution, frames, feature network) is printed with the numbers."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the bundled model)")
    _add_generation_options(parser)
    _common(parser, flow=False, lpips=False)
    parser.set_defaults(func=run_synthetic)


def _add_inversion(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "inversion",
        help="the inversion-variant sweep (supplement Table 2)",
        description=(
            "Animate every photo with every inversion variant (E, EO, EOI, EOIF, EOIFS, MO, I2S) and report per "
            "variant the reconstruction SSIM and LPIPS (frame 0 of the generator's raw frames vs the photo's "
            "generator-sized crop) and the motion in the sky/water mask (Flow x1e-3): the supplement's Table 2."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("photos", nargs="+", type=Path, help="photos, or a folder of photos")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the bundled model)")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {','.join(VARIANTS)}"
    )
    parser.add_argument("--preset", choices=PRESETS, default=None, help="iteration budget (default: the model's)")
    parser.add_argument(
        "--iterations", type=int, default=None, help="override the preset's optimisation and fine-tuning iterations"
    )
    parser.add_argument("--frames", type=int, default=16, help="frames per animation (motion needs >= 2)")
    parser.add_argument("--motion", default=None, help="motion preset (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random parts (I2S / E noise)")
    parser.add_argument("--masks", type=Path, default=None, help="folder of masks NAME.png (white = may move)")
    parser.add_argument(
        "--segmentation",
        choices=("auto", "heuristic", "none"),
        default="auto",
        help="without --masks: the model's segmenter (heuristic, with a note, when it cannot be loaded)",
    )
    parser.add_argument(
        "--perceptual",
        choices=("auto", "vgg", "lpips", "none"),
        default="auto",
        help="perceptual loss of the inversion (auto: vgg when cached, else none)",
    )
    _common(parser)
    parser.set_defaults(func=run_inversion)


def _add_balance(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "balance",
        help="compare trained models (discriminator balancing, supplement Table 1)",
        description=(
            "Compare generators trained with different discriminator-balancing schedules (or any other change): "
            "every model renders the same seeds and motions; per model FID and FVD against the real videos, static "
            "consistency (masked SSIM/LPIPS of frames k >= 1 vs frame 0, mask from frame 0) and motion in the "
            "sky/water (Flow x1e-3). The user-study column R of Table 1 is not computed."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("models", nargs="+", help="model folders or hub ids")
    _add_generation_options(parser)
    parser.add_argument(
        "--segmentation", choices=("auto", "heuristic"), default="auto", help="how frame 0's sky/water is found"
    )
    parser.add_argument("--segmenter", default=None, help="segmentation model id or folder (default SegFormer-B0)")
    _common(parser)
    parser.set_defaults(func=run_balance)


MASK_METHODS = ("region", "colour", "model")


def _add_masks(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "masks",
        help="segmenters vs hand-drawn sky / water labels",
        description=(
            "Score what each segmenter lets move against hand-drawn polygon labels (one JSON file per photo, "
            "named after it; the repository's set is benchmarks/mask_labels, for the photos in examples/ and "
            "benchmarks/mask_photos). Per "
            "photo: IoU of the sky, IoU of the water, the share of land pixels inside the movable mask and the "
            "share of cloud pixels included; then the median and the worst photo per method. Methods: region "
            "(the offline sky-region segmenter, the fallback when the model cannot be loaded), colour (the older "
            "colour/position rule, for comparison) and model (the ADE20K segmenter; left out with a note when "
            "its weights are not cached)."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("photos", nargs="+", help="photo files or folders")
    parser.add_argument("--labels", type=Path, required=True, help="folder of label files (PHOTO-STEM.json)")
    parser.add_argument(
        "--methods", default=",".join(MASK_METHODS), help=f"comma-separated, from {','.join(MASK_METHODS)}"
    )
    parser.add_argument("--segmenter", default=None, help="segmentation model id or folder (default SegFormer-B0)")
    parser.add_argument(
        "--variants",
        default="original",
        help="comma-separated forms to score each photo in, its labels moved alike: original, greyscale, mirrored, "
        "small (320 px), inner (the centre 84 %% x 78 %%: less sky above the land), portrait (an upright 9:16 crop "
        "of the middle), lower (the photo below its top third: little or no sky), crop1 to crop4 (random crops, "
        "each side 60-95 %% of the photo's, the same on every run); rows of a variant name it after the method",
    )
    _common(parser, flow=False, lpips=False)
    parser.set_defaults(func=run_masks)


# ----------------------------------------------------------------------------------------------------- helpers


def _device(name: str) -> str:
    import torch

    from ..cli import CommandError

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise CommandError(f"--device {name!r} is not a device name (cpu, cuda, cuda:0, ... or auto).") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CommandError(f"--device {name} asked for CUDA, but no CUDA device is available here. Use --device cpu.")
    return str(device)


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before minutes of work when --json / --csv cannot be written."""
    from ..cli import CommandError

    for option in ("json", "csv"):
        path = getattr(args, option, None)
        if path is None:
            continue
        if path.is_dir():
            raise CommandError(f"--{option} '{path}' is a folder; give a file name.")
        existing = path.parent
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            raise CommandError(f"--{option} '{path}': '{existing}' is not a writable folder.")


def _positive(args: argparse.Namespace, *names: str) -> None:
    from ..cli import CommandError

    for name in names:
        value = getattr(args, name.replace("-", "_"), None)
        if value is not None and value < 1:
            raise CommandError(f"--{name} must be at least 1, got {value}.")


def _finish(result: Any, args: argparse.Namespace, extra_warnings: list[str] | None = None) -> int:
    """Print the table with its protocol and notes; write --json / --csv."""
    for message in extra_warnings or []:
        print(f"warning: {message}", file=sys.stderr)
    print(result.to_markdown(), end="")
    for option, writer in (("json", result.write_json), ("csv", result.write_csv)):
        path = getattr(args, option, None)
        if path is not None:
            print(f"wrote {writer(path)}")
    return 0


def _lpips_choice(args: argparse.Namespace) -> Any:
    return False if getattr(args, "no_lpips", False) else None


# ----------------------------------------------------------------------------------------------------- animation


def run_animation(args: argparse.Namespace) -> int:
    """Pair videos with photos, check everything, then measure each video."""
    from .. import evaluation as ev

    _check_outputs(args)
    _positive(args, "max-side")
    items, notes = ev.pair_animation_files(args.videos, args.inputs, args.masks)
    device = _device(args.device)
    mask_fn = mask_label = mask_note = None
    if any(item.mask is None for item in items):
        mask_fn, mask_label, mask_note = ev.resolve_mask_fn(args.segmentation, args.segmenter, device)
    result = ev.evaluate_animation_files(
        items,
        lpips_fn=_lpips_choice(args),
        flow=args.flow,
        mask_fn=mask_fn,
        mask_label=mask_label or "mask",
        mask_note=mask_note,
        max_side=args.max_side,
        device=device,
        progress=not args.quiet,
        static_margin_px=args.static_margin,
    )
    return _finish(result, args, notes)


# ----------------------------------------------------------------------------------------------------- synthetic


def _extractors(args: argparse.Namespace, device: str) -> tuple[Any, Any]:
    """Build the FID / FVD feature networks first, so missing weights stop the run before any video is rendered."""
    from ..cli import CommandError
    from ..evaluation.metrics import I3DTorchScript, InceptionPool3, MissingWeightsError, R2Plus1DFeatures

    if args.no_fid and args.no_fvd:
        raise CommandError("--no-fid and --no-fvd leave nothing to compute.")
    fid_extractor = fvd_extractor = None
    try:
        if not args.no_fid:
            fid_extractor = InceptionPool3(args.inception_weights).to(device)
    except MissingWeightsError as error:
        raise CommandError(f"FID: {error} (or pass --no-fid to skip FID).") from error
    try:
        if not args.no_fvd:
            fvd_extractor = (I3DTorchScript(args.i3d) if args.i3d is not None else R2Plus1DFeatures()).to(device)
    except MissingWeightsError as error:
        raise CommandError(f"FVD: {error} (or pass --no-fvd to skip FVD).") from error
    return fid_extractor, fvd_extractor


def _load_generator(name: str | None, device: str) -> Any:
    from ..networks.generator import DeepLandscapeGenerator
    from ..networks.hub import default_model_path

    model = DeepLandscapeGenerator.from_pretrained(name if name else default_model_path())
    return model.to(device).eval()


def _check_generation(args: argparse.Namespace) -> None:
    from ..cli import CommandError

    _positive(args, "num-videos", "frames", "batch-size", "resolution", "fid-every", "fvd-frames", "max-real")
    if args.num_videos < 2:
        raise CommandError(f"--num-videos must be at least 2 (a covariance needs 2 samples), got {args.num_videos}.")
    if not args.no_fvd and args.frames < args.fvd_frames:
        raise CommandError(
            f"--frames {args.frames} is shorter than the FVD clip (--fvd-frames {args.fvd_frames}); raise --frames."
        )
    if not 0 < args.truncation <= 1:
        raise CommandError(f"--truncation must be in (0, 1], got {args.truncation}.")
    if args.motion != "random":
        from ..motion.homographies import get_motion

        try:
            get_motion(args.motion)
        except (ValueError, FileNotFoundError) as error:
            raise CommandError(f"--motion: {error}") from None


def _real_samples(args: argparse.Namespace) -> list:
    from .. import evaluation as ev

    return ev.collect_video_samples(
        args.real,
        resolution=args.resolution,
        fid_every=args.fid_every,
        fvd_frames=None if args.no_fvd else args.fvd_frames,
        max_videos=args.max_real,
        progress=not args.quiet,
    )


def _generation_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return dict(
        num_videos=args.num_videos,
        num_frames=args.frames,
        seed=args.seed,
        motion=args.motion,
        truncation=args.truncation,
        batch_size=args.batch_size,
        resolution=args.resolution,
        fid_every=args.fid_every,
        fvd_frames=args.fvd_frames,
        progress=not args.quiet,
    )


def run_synthetic(args: argparse.Namespace) -> int:
    """FID / FVD of one generator against a folder of real videos."""
    from .. import evaluation as ev

    _check_outputs(args)
    _check_generation(args)
    device = _device(args.device)
    fid_extractor, fvd_extractor = _extractors(args, device)
    real = _real_samples(args)
    model = _load_generator(args.model, device)
    label = str(args.model) if args.model else "bundled"
    result = ev.evaluate_generators(
        {label: model}, real, fid_extractor=fid_extractor, fvd_extractor=fvd_extractor, **_generation_kwargs(args)
    )
    return _finish(result, args)


# ----------------------------------------------------------------------------------------------------- balance


def run_balance(args: argparse.Namespace) -> int:
    """Table 1: several generators, same seeds, FID / FVD / static consistency / motion."""
    from .. import evaluation as ev
    from ..cli import CommandError

    _check_outputs(args)
    _check_generation(args)
    labels = [Path(name).name or str(name) for name in args.models]
    if len(set(labels)) != len(labels):
        labels = [str(name) for name in args.models]
    if len(set(labels)) != len(labels):
        raise CommandError(f"the same model is listed twice: {' '.join(args.models)}")
    device = _device(args.device)
    fid_extractor, fvd_extractor = _extractors(args, device)
    mask_fn, _, mask_note = ev.resolve_mask_fn(args.segmentation, args.segmenter, device)
    lpips_fn, lpips_note = ev.resolve_lpips(_lpips_choice(args), device)
    flow_used, flow_sentence = ev.describe_flow(args.flow)
    real = _real_samples(args)
    models = {label: _load_generator(name, device) for label, name in zip(labels, args.models)}
    result = ev.evaluate_generators(
        models,
        real,
        fid_extractor=fid_extractor,
        fvd_extractor=fvd_extractor,
        per_video=ev.generated_static_and_motion(mask_fn, lpips_fn, flow_used),
        command="balance",
        **_generation_kwargs(args),
    )
    for note in (flow_sentence, lpips_note, mask_note):
        result.add_note(note)
    return _finish(result, args)


# ----------------------------------------------------------------------------------------------------- inversion


def run_inversion(args: argparse.Namespace) -> int:
    """Table 2: every variant on every photo through the real pipeline."""
    from .. import evaluation as ev
    from ..animation import inversion as inv
    from ..animation.perceptual import PerceptualWeightsUnavailableError
    from ..animation.pipeline import DeepLandscapePipeline
    from ..animation.segmentation import SegmenterUnavailableError, SkySegmenter
    from ..cli import CommandError

    _check_outputs(args)
    _positive(args, "iterations")
    if args.frames < 2:
        raise CommandError(f"--frames must be at least 2 to measure motion, got {args.frames}.")
    variants = ev.sort_variants(args.variants.split(","))
    if not variants:
        raise CommandError(f"--variants names no variant; choose from {','.join(VARIANTS)}.")
    photos = ev.find_photos(args.photos)
    masks = ev.find_masks(args.masks, photos) if args.masks is not None else {}
    device = _device(args.device)
    pipe = DeepLandscapePipeline.from_pretrained(args.model, device=device)
    pipe.set_progress_bar_config(disable=True)
    needs_encoder = [v.upper() for v in variants if inv.VARIANTS[v].init_from_encoder]
    if pipe.encoder is None and needs_encoder:
        raise CommandError(
            f"variants {', '.join(needs_encoder)} start from the encoder, but model '{args.model or 'bundled'}' has "
            "no encoder/ folder. Use --variants mo,i2s, or a model with an encoder."
        )
    preset: Any = args.preset
    if args.iterations is not None:
        base = pipe.config.preset(args.preset or pipe.config.default_preset)
        preset = base.replace(
            optimization_iterations=args.iterations,
            fine_tune_iterations=args.iterations,
            i2s_iterations=args.iterations,
        )
    segmentation, notes = args.segmentation, []
    if not masks and segmentation == "auto":
        try:
            SkySegmenter(pipe.config.segmenter, movable_classes=pipe.config.dynamic_classes)
        except SegmenterUnavailableError as error:
            segmentation = "heuristic"
            notes.append(
                f"sky/water masks from the offline sky-region heuristic because the segmenter is unavailable "
                f"({error.cause}); pass --masks for reliable flow numbers."
            )
    animate = ev.pipeline_animate_fn(
        pipe,
        preset=preset,
        num_frames=args.frames,
        motion=args.motion,
        seed=args.seed,
        perceptual=args.perceptual,
        segmentation=segmentation,
        masks=masks,
    )
    try:
        result = ev.run_inversion_sweep(
            photos,
            variants,
            animate,
            lpips_fn=_lpips_choice(args),
            flow=args.flow,
            device=device,
            progress=not args.quiet,
        )
    except PerceptualWeightsUnavailableError as error:
        raise CommandError(f"{error} (or pass --perceptual none: L1 only, blurrier).") from error
    for note in notes:
        result.add_note(note)
    preset_obj = pipe.config.preset(preset or pipe.config.default_preset)
    result.protocol["preset"] = (
        f"{args.preset or pipe.config.default_preset}: {preset_obj.optimization_iterations} optimisation + "
        f"{preset_obj.fine_tune_iterations} fine-tuning iterations (I2S {preset_obj.i2s_iterations})"
    )
    result.protocol["perceptual loss"] = args.perceptual
    result.protocol["masks"] = "files" if masks else segmentation
    return _finish(result, args)


# ----------------------------------------------------------------------------------------------------- masks


def _mask_segmenters(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """method -> function(PIL) -> SegmentationResult, and notes for methods that cannot run here."""
    from ..animation import segmentation as seg
    from ..cli import CommandError

    methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    unknown = sorted(set(methods) - set(MASK_METHODS))
    if unknown or not methods:
        raise CommandError(f"--methods: unknown {', '.join(unknown) or '(none given)'}; use {','.join(MASK_METHODS)}.")
    segmenters: dict[str, Any] = {}
    notes = []
    for method in methods:
        if method in seg.HEURISTIC_METHODS:
            segmenters[method] = lambda photo, method=method: seg.heuristic_segment(photo, method=method)
            continue
        model_id = args.segmenter or seg.DEFAULT_SEGMENTER_ID
        try:
            model = seg.SkySegmenter(model_id, device=_device(args.device))
        except seg.SegmenterUnavailableError as error:
            notes.append(f"model left out: {error.cause}")
            continue
        segmenters[f"model {model_id}"] = model.segment
    if not segmenters:
        raise CommandError("none of --methods can run here: " + "; ".join(notes))
    return segmenters, notes


def run_masks(args: argparse.Namespace) -> int:
    """Every labelled photo through every segmenter, scored against its labels."""
    from .. import evaluation as ev
    from ..evaluation.mask_labels import evaluate_masks, label_files

    _check_outputs(args)
    photos = ev.find_photos(args.photos)
    labels = label_files(args.labels)
    segmenters, notes = _mask_segmenters(args)
    result = evaluate_masks(photos, labels, segmenters, variants=[name.strip() for name in args.variants.split(",")])
    for note in notes:
        result.add_note(note)
    return _finish(result, args)
