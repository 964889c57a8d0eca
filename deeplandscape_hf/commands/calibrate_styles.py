"""``deeplandscape calibrate-styles MODEL``: find what each time-of-day name means in this model.

A style name is a z_dyn target network A moves a photo's W+ toward. Where a model keeps the light in z_dyn depends on
its training, so the targets are found per model: random samples are styled with candidate targets the way the
pipeline styles a photo, and each name takes the target whose samples change most as it promises
(``style_calibration.COLOUR_CHANGES``: deep_night darkens sky and land to about a third, warm_sunset warms the
sky). A name that no one target brings within tolerance on all samples at once is searched on each sample alone, as
the pipeline does on each photo, and offered when those searches get there. The result goes into the model's
pipeline.json; names still out of reach are marked unreachable, and the pipeline, the CLI and the app stop offering
them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..cli import HelpFormatter

PIPELINE_JSON = "pipeline.json"  # pipeline.PIPELINE_CONFIG_NAME (kept here: --help stays fast)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``calibrate-styles``."""
    parser = subparsers.add_parser(
        "calibrate-styles",
        help="find each time-of-day style's z_dyn target in a model and store them in its pipeline.json",
        description=(
            "Find what each time-of-day name (blue_day ... blue_morning) means in MODEL: style random samples with "
            "candidate z_dyn targets through network A, as the pipeline styles a photo, measure how the mean CIELAB of "
            "their sky (top quarter) and land (bottom quarter) changes, and keep for each name the target and "
            "strength that come closest to the change it promises (for example deep_night: sky and land L* to about "
            "a third; warm_sunset: sky a* +8 and b* +16). A name no one target brings within tolerance is searched "
            "on each sample alone, as the pipeline searches on each photo, and offered if that gets there. Prints how "
            "close each name got and writes the vocabulary into MODEL/pipeline.json; names the model cannot reach "
            "are marked unreachable and are no longer offered."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("model", type=Path, help="model folder (generator, dynamics/ and pipeline.json); it is updated")
    parser.add_argument("--samples", type=int, default=8, help="random scenes each candidate target is tried on")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scenes")
    parser.add_argument("--dry-run", action="store_true", help="print the result without writing pipeline.json")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..cli import CommandError

    folder = args.model.expanduser()
    if not folder.is_dir():
        raise CommandError(
            f"{folder} is not a model folder: pass the folder to calibrate (its pipeline.json is updated)."
        )
    if args.samples < 1:
        raise CommandError(f"--samples must be >= 1, got {args.samples}.")
    if not (folder / "dynamics").is_dir():
        raise CommandError(
            f"{folder} has no dynamics/ folder: styles are applied by network A, so train it first "
            "(accelerate launch train_accelerate.py dynamics --generator MODEL --output_dir MODEL)."
        )
    import torch

    from ..animation.pipeline import PipelineConfig
    from ..motion.style_calibration import calibrate_styles, calibrated_vocabulary, generator_style_samples
    from ..motion.styles import default_style_strength
    from ..networks.dynamics import StyleDynamicsNet
    from ..networks.generator import DeepLandscapeGenerator

    generator = DeepLandscapeGenerator.from_pretrained(folder).eval()
    dynamics = StyleDynamicsNet.from_pretrained(folder / "dynamics").eval()
    config_path = folder / PIPELINE_JSON
    config = PipelineConfig.from_file(config_path) if config_path.is_file() else PipelineConfig()
    strength = config.style_strength or default_style_strength(generator.resolution)
    with torch.no_grad():  # scoped: the command also runs inside other programs (and tests)
        samples = generator_style_samples(generator, dynamics, samples=args.samples, seed=args.seed)
        calibrations = calibrate_styles(samples, strength)
    print(_report(calibrations))
    vocabulary = calibrated_vocabulary(calibrations)
    if not vocabulary.reachable:
        print("no style is reachable: this model's z_dyn does not carry the time of day.")
    if args.dry_run:
        return 0
    _write_styles(config_path, vocabulary.to_json())
    print(f"wrote the styles into {config_path}; offered: {', '.join(vocabulary.choices) or 'none'}")
    return 0


def _report(calibrations: dict) -> str:
    from ..evaluation.metrics.report import format_markdown_table
    from ..motion.style_calibration import COLOUR_CHANGES, describe_change

    rows = [
        {
            "style": name,
            "reachable": "yes" if result.reachable else "NO",
            "distance / tolerance": f"{result.distance:.1f} / {result.tolerance:g}",
            "searched on each sample": "-" if result.photo_distance is None else f"{result.photo_distance:.1f}",
            "change made": describe_change(result.change),
            "change promised": COLOUR_CHANGES[name].describe(),
            "z_dyn": " ".join(f"{v:+.2f}" for v in result.z_dyn),
            "strength": f"{result.strength:.2f}",
        }
        for name, result in calibrations.items()
    ]
    return format_markdown_table(rows, list(rows[0]))


def _write_styles(path: Path, styles: dict) -> None:
    """Replace the ``styles`` key of pipeline.json and keep every other key as it is."""
    from ..training.data import _write_json_atomic

    values = json.loads(path.read_text()) if path.is_file() else {}
    values["styles"] = styles
    _write_json_atomic(path, values)
