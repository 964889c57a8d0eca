"""``deeplandscape convert-official``: the authors' checkpoints -> a hub-ready deeplandscape-hf folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import HelpFormatter


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``convert-official`` (see `deeplandscape_hf.conversion.official` for the key table and format)."""
    parser = subparsers.add_parser(
        "convert-official",
        help="convert the authors' released checkpoints into a hub-ready model folder",
        description=(
            "Convert the official DeepLandscape release (github.com/advimman/deep-landscape) into a folder that "
            "DeepLandscapeGenerator.from_pretrained / DeepLandscapePipeline.from_pretrained load: the EMA generator "
            "(g_running) at the root, both discriminators under discriminators/, and the encoder and network A "
            "when given. Pickled files are read with a restricted unpickler that never runs code from them. "
            "The folder appears only once complete."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "checkpoint",
        type=Path,
        help="official generator checkpoint, e.g. results/checkpoints/256/475000.model",
    )
    parser.add_argument(
        "--encoder",
        type=Path,
        default=None,
        help="official encoder, e.g. results/encoders/256_resnet/models/best_model.pth (pickled ResNetEncoder)",
    )
    parser.add_argument(
        "--dynamics",
        type=Path,
        default=None,
        help="official network A, e.g. results/encoders/256_mlp/models/best_model.pth (pickled MLPApproximator)",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to create (must not exist)")
    parser.add_argument(
        "--resolution",
        type=int,
        choices=(256, 512),
        default=None,
        help="model resolution in px; read from the checkpoint when omitted (must agree with it when given)",
    )
    parser.add_argument(
        "--z-dynamic-dim",
        type=int,
        default=3,
        help="size of z_dyn, the last coordinates of z (not stored in checkpoints; official 3)",
    )
    parser.add_argument(
        "--w-avg-samples",
        type=int,
        default=100 * 1024,
        help="number of seeded z whose mean M(z) becomes the truncation centre w_avg (official 100 x 1024)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the z used for w_avg")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace --out if it exists (once the new one is done)"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Convert, print what was written; user errors reach cli.main as exceptions with clear messages."""
    from ..cli import CommandError
    from ..conversion.official import OfficialCheckpointError, convert_official_checkpoint

    try:
        report = convert_official_checkpoint(
            args.checkpoint,
            args.out,
            encoder=args.encoder,
            dynamics=args.dynamics,
            resolution=args.resolution,
            z_dynamic_dim=args.z_dynamic_dim,
            w_avg_samples=args.w_avg_samples,
            w_avg_seed=args.seed,
            overwrite=args.overwrite,
            progress=True,
        )
    except (OfficialCheckpointError, FileExistsError) as error:
        raise CommandError(str(error)) from error
    dropped = sum(len(keys) for keys in report.dropped_keys.values())
    print(f"wrote {report.output_dir} ({report.resolution} px): {', '.join(report.components)}")
    print(f"dropped {dropped} keys of never-trained blocks above {report.resolution} px; blur kernels verified")
    return 0
