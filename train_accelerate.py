"""Train DeepLandscape with Hugging Face Accelerate: the GAN, the encoder E and the style-dynamics network A.

    accelerate launch train_accelerate.py gan      --config 256 --image_dir photos/ --video_dir videos/ --output_dir out
    accelerate launch train_accelerate.py encoder  --generator out          # adds out/encoder/
    accelerate launch train_accelerate.py dynamics --generator out          # adds out/dynamics/
    python train_accelerate.py prepare --image_dir photos/ --video_dir videos/ --cache_dir cache/ --resolutions 8 16

``gan`` follows supplement section 1 and the official ``train.py``: progressive growing from 8 px with phases counted
in images, an image D on stills and a pairwise D on frame pairs of real videos, trained one at a time (the pairwise
probability decays 0.5 -> 0.1 over each fade-in), same-frame crops as fake pairs on half of the pairwise steps,
non-saturating loss, R1 (gamma 10) in float32 on every D step, style mixing, an EMA generator for samples and export.
``encoder`` (reference 5.8) and ``dynamics`` (reference 5.6) train on samples drawn on the fly from a trained G.

Layout of ``--output_dir`` (the model folder is the hub layout the pipeline loads)::

    config.json, model.safetensors, README.md, pipeline.json    EMA generator (gan)
    discriminators/image/, discriminators/pairwise/              for fine-tuning and resuming elsewhere (gan)
    encoder/, dynamics/                                          added by the encoder / dynamics subcommands
    checkpoints/<command>/checkpoint-<iteration>/                resumable state (safetensors + JSON, no pickles)
    samples/<command>/, logs/                                    sample videos, tracker logs
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from deeplandscape_hf.cli import HelpFormatter
from deeplandscape_hf.training import run_control
from deeplandscape_hf.training.configs import CONFIG_NAMES
from deeplandscape_hf.training.dynamics import DYNAMICS_BATCH, DYNAMICS_LR, train_dynamics
from deeplandscape_hf.training.encoder import ENCODER_BATCH, ENCODER_LR, ENCODER_Z_SCALE, train_encoder
from deeplandscape_hf.training.gan import train_gan
from deeplandscape_hf.training.gan_data import run_prepare
from deeplandscape_hf.training.run import TrainingInputError
from deeplandscape_hf.training.supervised import MAX_GRAD_NORM

COMMANDS = ("gan", "encoder", "dynamics", "prepare")
RUN_HELP = """\
Several processes: accelerate launch --num_processes N train_accelerate.py ... on N GPUs. On CPU, two real processes
need: accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no
train_accelerate.py ... (--cpu --num_processes 2 alone starts one process; the script warns when that happens).

Stopping: Ctrl-C or SIGTERM stops every process after the current iteration, saves a checkpoint and prints the command
that resumes (exit status 130); a second Ctrl-C aborts without saving. With several processes, torch's launcher kills
them 30 s after a Ctrl-C: for a large model, set TORCH_ELASTIC_SHUTDOWN_TIMEOUT=300 (seconds) for the launcher so the
save can finish. One run at a time per --output_dir (a lock file names the running one); workers exit when their
launcher dies. A run started from a checkpoint other than the newest (or from scratch) moves the later ones into
checkpoints/<command>/abandoned/, so that 'latest' and --checkpoints_total_limit follow that run."""


def _count(text: str) -> int:
    """An argparse type for options that count something (iterations, checkpoints, samples): a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class _HelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Each option's default named once (`HelpFormatter`); the description and epilog keep their lines."""


def _add_common(parser: argparse.ArgumentParser, default_steps: int | None) -> None:
    group = parser.add_argument_group("run")
    group.add_argument("--output_dir", required=True, help="model folder; checkpoints, samples and logs go inside")
    group.add_argument("--seed", type=int, default=0, help="seed of weights, latents, data order and decisions")
    group.add_argument(
        "--mixed_precision",
        choices=["no", "bf16", "fp16"],
        default=None,
        help="autocast precision (default: accelerate config, else no). R1 always runs in fp32.",
    )
    group.add_argument(
        "--max_train_steps",
        type=int,
        default=default_steps,
        help="stop after this many iterations (total, counting resumed ones)",
    )
    group.add_argument(
        "--resume_from_checkpoint",
        default=None,
        help="'latest' (newest in this output_dir, or a fresh start if none) or a checkpoint folder",
    )
    group.add_argument("--checkpointing_steps", type=_count, default=500, help="save a checkpoint every N iterations")
    group.add_argument(
        "--checkpoints_total_limit", type=_count, default=None, help="keep at most N checkpoints (default: all)"
    )
    group.add_argument(
        "--report_to", choices=["tensorboard", "wandb", "none"], default="tensorboard", help="experiment tracker"
    )
    group.add_argument("--logging_dir", default="logs", help="tracker folder, relative to output_dir")
    group.add_argument("--log_steps", type=_count, default=10, help="log scalars every N iterations")
    group.add_argument("--sample_steps", type=_count, default=1000, help="write a sample video every N iterations")
    group.add_argument("--push_to_hub", action="store_true", help="upload the model folder at the end")
    group.add_argument("--hub_model_id", default=None, help="'org/name' for --push_to_hub")
    group.add_argument("--hub_token", default=None, help="token for --push_to_hub (default: the stored login)")
    group.add_argument("--hub_private_repo", action="store_true")
    group.add_argument(
        "--cpu_threads",
        type=int,
        default=None,
        help="torch CPU threads per process (default: torch's choice). On a busy shared CPU, 1 can be many times "
        "faster than oversubscribed cores.",
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``train_accelerate.py COMMAND ...`` (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=RUN_HELP, formatter_class=_HelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_help = {"epilog": RUN_HELP, "formatter_class": _HelpFormatter}

    gan = sub.add_parser("gan", help="train G with the image and pairwise discriminators", **run_help)
    _add_common(gan, default_steps=None)
    data = gan.add_argument_group("data")
    data.add_argument("--image_dir", action="append", default=[], help="folder of photos (repeatable)")
    data.add_argument("--video_dir", action="append", default=[], help="folder of videos (repeatable)")
    data.add_argument(
        "--cache_dir", default=None, help="prepared data cache (default: OUTPUT_DIR/data_cache); built when missing"
    )
    model = gan.add_argument_group("schedule", "options left unset take their values from --config")
    model.add_argument("--config", default="256", help=f"{', '.join(CONFIG_NAMES)} or a .json config file")
    model.add_argument(
        "--official_batch_sizes",
        action="store_true",
        help="the official code's batch table (32 at 128 px and up) instead of the supplement's",
    )
    model.add_argument("--max_kimg", type=float, default=None, help="stop after this many thousand images")
    model.add_argument("--images_per_phase", type=int, default=None, help="fade-in and stabilisation length")
    model.add_argument("--fade_images", type=int, default=None, help="images per fade-in phase")
    model.add_argument("--stable_images", type=int, default=None, help="images per stabilisation phase")
    model.add_argument(
        "--pairwise_probability",
        default=None,
        help="'decay' (0.5 -> 0.1 over each fade-in) or a constant such as 0.1, 0.3, 0.5",
    )
    model.add_argument("--crop_probability", type=float, default=None, help="same-frame crops as fake pairs")
    model.add_argument("--mixing_probability", type=float, default=None, help="style mixing probability")
    model.add_argument("--batch_size", type=int, default=None, help="one global batch at every resolution")
    model.add_argument("--learning_rate", type=float, default=None, help="one learning rate at every resolution")
    model.add_argument("--r1_gamma", type=float, default=None, help="weight of the R1 penalty on real images")
    model.add_argument(
        "--ema_decay",
        type=float,
        default=None,
        help="decay of the exported EMA generator (paper 0.999); may change on resume, it never steers training",
    )
    gan.add_argument(
        "--video_frames_as_images",
        choices=("auto", "yes", "no"),
        default="auto",
        help="let the image D see video frames too: auto = only when there are no photos; yes helps when the "
        "photos are few (a handful of photos alone is memorised by D in minutes)",
    )
    model.add_argument("--num_sample_videos", type=_count, default=4, help="videos in each sample grid")
    model.add_argument("--num_sample_frames", type=_count, default=16, help="frames of each sample video")

    encoder = sub.add_parser("encoder", help="train the encoder E (image -> W+) on samples of a trained G", **run_help)
    _add_common(encoder, default_steps=100_000)
    encoder.add_argument("--generator", required=True, help="model folder (or hub id) of the trained generator")
    encoder.add_argument(
        "--backbone", default=None, help="torchvision ResNet trunk (default: resnet152 from 256 px, resnet18 below 128)"
    )
    backbone_weights = encoder.add_mutually_exclusive_group()
    backbone_weights.add_argument(
        "--pretrained_backbone",
        dest="pretrained_backbone",
        action="store_true",
        default=True,
        help="start the trunk from ImageNet weights (default; they must be in the torch hub cache when offline)",
    )
    backbone_weights.add_argument(
        "--no_pretrained_backbone",
        dest="pretrained_backbone",
        action="store_false",
        help="start the trunk from random weights",
    )
    encoder.add_argument(
        "--image_size", type=int, default=None, help="encoder input px (default: min(256, G resolution), at least 32)"
    )
    encoder.add_argument("--hidden", type=int, default=2048, help="width of the head's bottleneck")
    encoder.add_argument("--batch_size", type=int, default=ENCODER_BATCH, help="generator samples per iteration")
    encoder.add_argument("--learning_rate", type=float, default=ENCODER_LR, help="Adam learning rate")
    encoder.add_argument("--max_grad_norm", type=float, default=MAX_GRAD_NORM, help="gradient clipping norm")
    encoder.add_argument("--z_scale", type=float, default=ENCODER_Z_SCALE, help="z_st = z_scale * N(0, 1)")
    encoder.add_argument(
        "--mixing_probability", type=float, default=0.9, help="share of samples drawn with two mixed styles"
    )
    encoder.add_argument(
        "--image_loss_weight",
        type=float,
        default=0.0,
        help="weight of an L1 loss between G(E(x)) and x (0: the official W+ loss only)",
    )

    dynamics = sub.add_parser("dynamics", help="train network A (style change under a z_dyn change)", **run_help)
    _add_common(dynamics, default_steps=100_000)
    dynamics.add_argument("--generator", required=True, help="model folder (or hub id) of the trained generator")
    dynamics.add_argument("--depth", type=int, default=10, help="residual blocks of A")
    dynamics.add_argument("--batch_size", type=int, default=DYNAMICS_BATCH, help="generator samples per iteration")
    dynamics.add_argument("--learning_rate", type=float, default=DYNAMICS_LR, help="Adam learning rate")
    dynamics.add_argument("--max_grad_norm", type=float, default=MAX_GRAD_NORM, help="gradient clipping norm")

    prepare = sub.add_parser("prepare", help="build the multi-resolution data cache", formatter_class=_HelpFormatter)
    prepare.add_argument("--image_dir", action="append", default=[])
    prepare.add_argument("--video_dir", action="append", default=[])
    prepare.add_argument("--cache_dir", required=True)
    prepare.add_argument("--resolutions", type=int, nargs="+", required=True, help="e.g. 8 16 32 64 128 256")

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # for the resume command printed when a run is stopped
    return args


def main(args: argparse.Namespace) -> int:
    """Run one subcommand; ``TrainingInputError`` (a ``ValueError``) explains bad input before any work is done."""
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "gan": train_gan,
        "encoder": train_encoder,
        "dynamics": train_dynamics,
        "prepare": run_prepare,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    run_control.exit_with_launcher()  # first: a launcher killed from here on takes this worker with it
    parsed = parse_args()
    rank0 = os.environ.get("RANK", "0") == "0"  # every process reaches the same verdict; one says it
    try:
        code = main(parsed)
    except TrainingInputError as error:
        if rank0:
            print(f"train_accelerate.py {parsed.command}: error: {error}", file=sys.stderr)
        code = 2
    except (KeyboardInterrupt, *run_control.launcher_signal_exceptions()):
        # Before the stop handlers were installed (or in `prepare`): nothing to save yet, and no traceback either.
        if rank0:
            kept = "items cached so far are kept" if parsed.command == "prepare" else "nothing saved"
            print(f"train_accelerate.py {parsed.command}: interrupted before training; {kept}", file=sys.stderr)
        code = run_control.INTERRUPT_EXIT_CODE
    sys.exit(code)
