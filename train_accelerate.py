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

Layout of ``--output_dir`` (the model folder is the hub layout of DESIGN section 2)::

    config.json, model.safetensors, README.md, pipeline.json    EMA generator (gan)
    discriminators/image/, discriminators/pairwise/              for fine-tuning and resuming elsewhere (gan)
    encoder/, dynamics/                                          added by the encoder / dynamics subcommands
    checkpoints/<command>/checkpoint-<iteration>/                resumable state (safetensors + JSON, no pickles)
    samples/<command>/, logs/                                    sample videos, tracker logs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from deeplandscape_hf.networks.hub import CONFIG_NAME, WEIGHTS_NAME, load_state_dict_strict, unwrap_model
from deeplandscape_hf.training import checkpoint as ckpt
from deeplandscape_hf.training import run_control
from deeplandscape_hf.training.configs import (
    ARCHITECTURE_FIELDS,
    CONFIG_NAMES,
    RESUMABLE_CHANGES,
    GanTrainingConfig,
    get_config,
    official_batch_sizes,
)
from deeplandscape_hf.training.ema import make_ema, update_ema
from deeplandscape_hf.training.losses import d_logistic_loss, g_nonsaturating_loss, r1_penalty
from deeplandscape_hf.training.schedule import PhaseState, choose_iteration

logger = logging.getLogger("train_accelerate")

COMMANDS = ("gan", "encoder", "dynamics", "prepare")
ADAM_BETAS = (0.0, 0.99)  # supplement: Adam beta1 = 0, beta2 = 0.99 (G, both Ds and the mapping net)
ENCODER_LR = 1e-4  # official train_eval_loop default, used by configs/encoders/256_resnet.yaml
ENCODER_BATCH = 6  # official configs/encoders/256_resnet.yaml (4 for 512)
ENCODER_Z_SCALE = 3.0  # official gen_encoder_train_data.sh --z-scale 3
DYNAMICS_LR = 0.01  # official configs/encoders/256_mlp.yaml
DYNAMICS_BATCH = 512  # official MLPDataset batch
MAX_GRAD_NORM = 10.0  # official grad-clip 10 for E and A
SAMPLE_FPS = 12
PUSH_IGNORE = ["checkpoints/*", "checkpoints/**", "samples/**", "logs/**", "data_cache/**", ".*"]
RUN_HELP = """\
Several processes: accelerate launch --num_processes N train_accelerate.py ... on N GPUs. On CPU, two real processes
need: accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no
train_accelerate.py ... (--cpu --num_processes 2 alone starts one process; the script warns when that happens).

Stopping: Ctrl-C or SIGTERM stops every process after the current iteration, saves a checkpoint and prints the command
that resumes (exit status 130); a second Ctrl-C aborts without saving. One run at a time per --output_dir (a
lock file names the running one); workers exit when their launcher dies."""

# Released when a subcommand ends however it ends (the output-folder lock, the signal handlers); the multi-process
# exit in _finish closes it itself because os._exit skips every with-block.
_RUN_RESOURCES = contextlib.ExitStack()


class TrainingInputError(ValueError):
    """A problem with the command line or the data, found before any training work starts."""


# ===================================================================================================== arguments
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
    group.add_argument("--checkpointing_steps", type=int, default=500, help="save a checkpoint every N iterations")
    group.add_argument("--checkpoints_total_limit", type=int, default=None, help="keep at most N checkpoints")
    group.add_argument("--report_to", choices=["tensorboard", "wandb", "none"], default="tensorboard")
    group.add_argument("--logging_dir", default="logs", help="tracker folder, relative to output_dir")
    group.add_argument("--log_steps", type=int, default=10, help="log scalars every N iterations")
    group.add_argument("--sample_steps", type=int, default=1000, help="write a sample video every N iterations")
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
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=RUN_HELP, formatter_class=formatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_help = {"epilog": RUN_HELP, "formatter_class": formatter}

    gan = sub.add_parser("gan", help="train G with the image and pairwise discriminators", **run_help)
    _add_common(gan, default_steps=None)
    data = gan.add_argument_group("data")
    data.add_argument("--image_dir", action="append", default=[], help="folder of photos (repeatable)")
    data.add_argument("--video_dir", action="append", default=[], help="folder of videos (repeatable)")
    data.add_argument(
        "--cache_dir", default=None, help="prepared data cache (default: OUTPUT_DIR/data_cache); built when missing"
    )
    model = gan.add_argument_group("schedule")
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
    model.add_argument("--r1_gamma", type=float, default=None)
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
    model.add_argument("--num_sample_videos", type=int, default=4, help="videos in each sample grid")
    model.add_argument("--num_sample_frames", type=int, default=16, help="frames of each sample video")

    encoder = sub.add_parser("encoder", help="train the encoder E (image -> W+) on samples of a trained G", **run_help)
    _add_common(encoder, default_steps=100_000)
    encoder.add_argument("--generator", required=True, help="model folder (or hub id) of the trained generator")
    encoder.add_argument("--backbone", default="resnet152", help="torchvision ResNet trunk")
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
    encoder.add_argument("--batch_size", type=int, default=ENCODER_BATCH)
    encoder.add_argument("--learning_rate", type=float, default=ENCODER_LR)
    encoder.add_argument("--max_grad_norm", type=float, default=MAX_GRAD_NORM)
    encoder.add_argument("--z_scale", type=float, default=ENCODER_Z_SCALE, help="z_st = z_scale * N(0, 1)")
    encoder.add_argument("--mixing_probability", type=float, default=0.9)
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
    dynamics.add_argument("--batch_size", type=int, default=DYNAMICS_BATCH)
    dynamics.add_argument("--learning_rate", type=float, default=DYNAMICS_LR)
    dynamics.add_argument("--max_grad_norm", type=float, default=MAX_GRAD_NORM)

    prepare = sub.add_parser("prepare", help="build the multi-resolution data cache")
    prepare.add_argument("--image_dir", action="append", default=[])
    prepare.add_argument("--video_dir", action="append", default=[])
    prepare.add_argument("--cache_dir", required=True)
    prepare.add_argument("--resolutions", type=int, nargs="+", required=True, help="e.g. 8 16 32 64 128 256")

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # for the resume command printed when a run is stopped
    return args


# ===================================================================================================== validation
def _check_output_dir(path: Path) -> None:
    """Create the folder and prove it is writable, before anything expensive happens."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as error:
        raise TrainingInputError(f"--output_dir '{path}' is not writable: {error}") from error


def _check_folders(folders: Sequence[str], flag: str, kind: str) -> list[Path]:
    """Every folder exists and holds at least one photo / video (``kind``), so nothing fails after work started."""
    from deeplandscape_hf.training import data

    paths = []
    for folder in folders:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise TrainingInputError(f"{flag} '{folder}' does not exist or is not a folder.")
        found = data.find_images(path) if kind == "images" else data.find_videos(path)
        if not found:
            extensions = data.IMAGE_EXTENSIONS if kind == "images" else data.VIDEO_EXTENSIONS
            raise TrainingInputError(
                f"{flag} '{folder}' has no {kind} (looked recursively for {', '.join(extensions)}"
                + (" and folders of frames)." if kind == "videos" else ").")
            )
        paths.append(path)
    return paths


def _resume_path(args: argparse.Namespace, root: Path) -> Path | None:
    try:
        return ckpt.resolve_resume_path(root, args.resume_from_checkpoint)
    except ckpt.CheckpointError as error:
        raise TrainingInputError(str(error)) from error


def _check_resume_config(
    path: Path | None,
    command: str,
    config: dict[str, Any],
    resumable: tuple[str, ...] = (),
    options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Refuse a checkpoint written by another subcommand or under another configuration; return the run's history
    (``ckpt.resume_history``: changes to ``resumable`` keys and to ``options`` are allowed and recorded)."""
    if path is None:
        return []
    try:
        return ckpt.resume_history(path, command, config, resumable, ARCHITECTURE_FIELDS, options)
    except ckpt.CheckpointError as error:
        saved = ckpt.read_training_state(path).get("config", {})
        hint = "Resume with the same --config and flags, or start a new --output_dir."
        if resumable:
            hint += f" These may change on resume: {', '.join(k for k in resumable if k != 'name')}."
        if saved.get("generator_sha256") != config.get("generator_sha256"):
            hint = (
                "The generator's weights differ from those this checkpoint was trained against (more GAN training?), "
                f"or it did not record them: this stage must start over. Move '{path.parent}' aside, or run without "
                "--resume_from_checkpoint."
            )
        raise TrainingInputError(f"{error}\n{hint}") from error


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    """Flags that may change freely between the legs of a run; stored so the history can record their changes."""
    return {
        "max_train_steps": args.max_train_steps,
        "checkpointing_steps": args.checkpointing_steps,
        "checkpoints_total_limit": args.checkpoints_total_limit,
    }


def build_gan_config(args: argparse.Namespace) -> GanTrainingConfig:
    """The named config with the command-line overrides applied (validated by the dataclass)."""
    try:
        config = get_config(args.config)
        if args.official_batch_sizes:
            config = official_batch_sizes(config)
        changes: dict[str, Any] = {}
        if args.images_per_phase is not None:
            changes.update(fade_images=args.images_per_phase, stable_images=args.images_per_phase)
        if args.fade_images is not None:
            changes["fade_images"] = args.fade_images
        if args.stable_images is not None:
            changes["stable_images"] = args.stable_images
        if args.max_kimg is not None:
            changes["max_kimg"] = args.max_kimg
        if args.max_train_steps is not None:
            changes["max_iterations"] = args.max_train_steps
        if args.pairwise_probability is not None:
            if args.pairwise_probability == "decay":
                changes["pairwise_mode"] = "decay"
            else:
                changes.update(pairwise_mode="constant", pairwise_constant=float(args.pairwise_probability))
        for name in ("crop_probability", "mixing_probability", "r1_gamma", "ema_decay"):
            if getattr(args, name) is not None:
                changes[name] = getattr(args, name)
        if args.batch_size is not None:
            changes["batch_sizes"] = {r: args.batch_size for r in config.batch_sizes}
        if args.learning_rate is not None:
            changes["learning_rates"] = {r: args.learning_rate for r in config.learning_rates}
        return config.replace(**changes) if changes else config
    except (ValueError, TypeError) as error:
        raise TrainingInputError(f"bad training configuration: {error}") from error


# ===================================================================================================== accelerate
def _make_accelerator(args: argparse.Namespace, output_dir: Path):
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.utils import ProjectConfiguration

    if args.cpu_threads:
        torch.set_num_threads(args.cpu_threads)

    log_with = None if args.report_to == "none" else args.report_to
    project = ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / args.logging_dir))
    # A launcher-started multi-process run on a machine without CUDA must ask for CPU explicitly, or accelerate
    # silently runs every process alone (no gloo group, no gradient averaging).
    multi_process_cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    accelerator = Accelerator(
        cpu=multi_process_cpu,
        mixed_precision=args.mixed_precision,
        log_with=log_with,
        project_config=project,
        # G and D steps each leave the other network unused, and progressive growing leaves levels unused.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    warning = run_control.process_count_warning(accelerator.num_processes)
    if warning and accelerator.is_main_process:
        print(f"train_accelerate.py {args.command}: warning: {warning}", file=sys.stderr)
    return accelerator


def _start_run(accelerator, output_dir: Path, command: str) -> run_control.StopSignals:
    """Claim the output folder (every process learns whether that worked) and turn SIGINT / SIGTERM into a stop at
    the next iteration boundary; both are undone when the subcommand ends."""
    lock = run_control.OutputLock(output_dir, command)
    error = run_control.agree_on_error(accelerator, lock.acquire, (run_control.OutputLockedError,))
    if error:
        raise TrainingInputError(error)
    _RUN_RESOURCES.callback(lock.release)
    return _RUN_RESOURCES.enter_context(run_control.StopSignals(announce=accelerator.is_local_main_process))


def _report_stop(accelerator, stop: run_control.StopSignals, args: argparse.Namespace, saved: Path | None) -> int:
    """The one line a stopped run prints (main process): where it saved and how to resume; returns the exit code."""
    if accelerator.is_main_process:
        assert stop.received is not None
        resume = run_control.resume_command(args.argv, accelerator.num_processes > 1)
        cause = stop.received.name + (" (its launcher is gone)" if run_control.launcher_died() else "")
        print(
            f"train_accelerate.py {args.command}: stopped by {cause}; saved {saved}; resume with: {resume}",
            file=sys.stderr,
        )
    return stop.exit_code


def _setup_logging(accelerator) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if not accelerator.is_local_main_process:
        logging.getLogger().setLevel(logging.WARNING)


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _progress(accelerator, total: int | None, initial: int, unit: str, desc: str):
    """One tqdm on the local main process; image counts print as 1.2k / 600k (``unit_scale``)."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit=unit,
        unit_scale=unit == "img",
        desc=desc,
        disable=not accelerator.is_local_main_process,
        dynamic_ncols=True,
    )


def _flat_hparams(values: dict[str, Any]) -> dict[str, Any]:
    """Tracker hyperparameters must be scalars: keep those, JSON-encode the rest."""
    return {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v) for k, v in values.items()}


def _checkpoint_root(output_dir: Path, command: str) -> Path:
    return output_dir / "checkpoints" / command


def _save_checkpoint(
    accelerator,
    root: Path,
    iteration: int,
    command: str,
    config: dict[str, Any],
    counters: dict[str, Any],
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    generators: dict[str, torch.Generator],
    total_limit: int | None,
) -> Path:
    """Write ``checkpoint-<iteration>`` atomically: weights and optimizers by the main process, RNG by every rank.

    Returns the checkpoint's folder (on every process)."""
    tmp = root / f".tmp-{ckpt.CHECKPOINT_PREFIX}{iteration}"
    digests = _gather_weight_digests(accelerator, modules)
    if len(set(digests)) > 1:
        logger.error(
            "processes hold different weights at iteration %d (digests %s): gradients are not being "
            "synchronised; only rank 0's weights are saved.",
            iteration,
            digests,
        )
    if accelerator.is_main_process:
        ckpt.temporary_checkpoint_dir(root, iteration)
    accelerator.wait_for_everyone()
    ckpt.save_state_files(tmp, f"rng_rank{accelerator.process_index}", ckpt.capture_rng_state(generators))
    if accelerator.is_main_process:
        for name, module in modules.items():
            ckpt.save_weights(tmp, name, unwrap_model(module).state_dict())
        for name, optimizer in optimizers.items():
            ckpt.save_state_files(tmp, f"optimizer_{name}", optimizer.state_dict())
        if accelerator.scaler is not None:
            ckpt.save_state_files(tmp, "grad_scaler", accelerator.scaler.state_dict())
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        ckpt.write_training_state(
            tmp,
            {
                "weights_sha256_per_rank": digests,
                "command": command,
                "config": config,
                "num_processes": accelerator.num_processes,
                **counters,
            },
        )
        final = ckpt.commit_checkpoint(tmp, total_limit)
        logger.info("saved checkpoint %s", final)
    accelerator.wait_for_everyone()
    return root / f"{ckpt.CHECKPOINT_PREFIX}{iteration}"


def _weights_sha256(modules: dict[str, nn.Module]) -> str:
    """SHA-256 of the modules' weights (names and bytes, in a fixed order)."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(modules):
        for key, value in sorted(unwrap_model(modules[name]).state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _gather_weight_digests(accelerator, modules: dict[str, nn.Module]) -> list[str]:
    """SHA-256 of every process's weights, gathered: equal digests prove the ranks are in sync."""
    from accelerate.utils import gather_object

    mine = _weights_sha256(modules)
    return list(gather_object([mine])) if accelerator.num_processes > 1 else [mine]


def _load_checkpoint(
    accelerator,
    path: Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    generators: dict[str, torch.Generator],
) -> dict[str, Any]:
    """Restore weights, optimizer and scaler states and this rank's RNG; returns the saved counters."""
    state = ckpt.read_training_state(path)
    for name, module in modules.items():
        load_state_dict_strict(unwrap_model(module), ckpt.load_weights(path, name), source=f"{path}/{name}")
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(ckpt.load_state_files(path, f"optimizer_{name}"))
    if accelerator.scaler is not None and (path / "grad_scaler.json").is_file():
        accelerator.scaler.load_state_dict(ckpt.load_state_files(path, "grad_scaler"))
    rank_file = f"rng_rank{accelerator.process_index}"
    if state.get("num_processes") != accelerator.num_processes or not (path / f"{rank_file}.json").is_file():
        logger.warning(
            "checkpoint was written by %s processes, now %d: random streams are re-seeded, so the run continues "
            "correctly but not bit-identically.",
            state.get("num_processes"),
            accelerator.num_processes,
        )
        shared = ckpt.load_state_files(path, "rng_rank0")
        for name in ("decisions",):  # must stay identical on every rank
            if name in generators:
                generators[name].set_state(shared["generators"][name])
    else:
        ckpt.restore_rng_state(ckpt.load_state_files(path, rank_file), generators)
    logger.info("resumed from %s (iteration %s)", path, state.get("iteration"))
    return state


def _finish(accelerator, code: int = 0) -> int:
    """End trackers and return ``code``; a multi-process run leaves with os._exit(code) instead, because two gloo
    processes that return normally sometimes abort in the process-group teardown at interpreter exit."""
    accelerator.wait_for_everyone()
    accelerator.end_training()
    if accelerator.num_processes > 1:
        _RUN_RESOURCES.close()  # os._exit skips the with-blocks that would release the lock
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    return code


def _push_to_hub(args: argparse.Namespace, folder: Path) -> None:
    from huggingface_hub import HfApi

    api = HfApi(token=args.hub_token)
    repo_id = api.create_repo(args.hub_model_id, exist_ok=True, private=args.hub_private_repo).repo_id
    api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        ignore_patterns=PUSH_IGNORE,
        commit_message="Upload DeepLandscape model trained with train_accelerate.py",
    )
    logger.info("pushed %s to https://huggingface.co/%s", folder, repo_id)


def _check_hub_args(args: argparse.Namespace) -> None:
    if args.push_to_hub and not args.hub_model_id:
        raise TrainingInputError("--push_to_hub needs --hub_model_id org/name.")
    if args.report_to == "wandb" and args.hub_token:
        raise TrainingInputError(
            "--report_to wandb together with --hub_token would expose the token in the run config; "
            "log in with `hf auth login` instead."
        )


def _write_pipeline_json(folder: Path, resolution: int) -> None:
    """Minimal pipeline.json (the pipeline fills every other default); existing keys are kept."""
    path = folder / "pipeline.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data["resolution"] = int(resolution)
    _atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True))


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _save_component(module: nn.Module, folder: Path) -> None:
    """save_pretrained into a temporary sibling, then move the files in: a crash never leaves half a component."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        unwrap_model(module).save_pretrained(tmp)
        folder.mkdir(exist_ok=True)
        if (folder / "README.md").is_file():
            (tmp / "README.md").unlink(missing_ok=True)  # keep a card the user edited
        for item in tmp.iterdir():
            os.replace(item, folder / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ===================================================================================================== GAN: modules
class FakeRenderer(nn.Module):
    """G as used in training: latents + noise -> frames (B, F, 3, H, W); frames of one sample share z_st and S_st.

    Wrapping this (not G) in DDP keeps one forward per backward. Official ``train.py``: with ``RESAMPLE`` noise and
    style, a generated pair has one z_st and one S_st, and an independent z_dyn and S_dyn per frame.
    """

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(
        self,
        z_static: torch.Tensor,
        z_dynamic: torch.Tensor,
        mixing_z_static: torch.Tensor | None,
        mixing_z_dynamic: torch.Tensor | None,
        crossover_level: int | None,
        static_noise: list[torch.Tensor],
        dynamic_noise: list[torch.Tensor],
        level: int,
        alpha: float,
    ) -> torch.Tensor:
        """z_static (B, zs), z_dynamic (B, F, zd), noise per level (B, 1, s, s) static / (B*F, 1, s, s) dynamic."""
        G = self.generator
        batch, frames = z_dynamic.shape[:2]

        def styles(zs: torch.Tensor, zd: torch.Tensor) -> torch.Tensor:
            z = torch.cat([zs.repeat_interleave(frames, dim=0), zd.flatten(0, 1)], dim=1)  # (B*F, z_dim)
            return G.map(z)

        w_plus = G.broadcast_w(styles(z_static, z_dynamic))
        if crossover_level is not None and mixing_z_static is not None and mixing_z_dynamic is not None:
            w_plus = G.mix_styles(w_plus, styles(mixing_z_static, mixing_z_dynamic), crossover_level)
        static = [noise.repeat_interleave(frames, dim=0) for noise in static_noise]
        images = G.synthesize(w_plus, static, dynamic_noise, level=level, alpha=alpha)
        return images.unflatten(0, (batch, frames))


class DiscriminatorObjective(nn.Module):
    """One D step's loss in a single forward (so DDP sees one forward per backward): logistic loss + R1.

    The real forward runs in float32 with autocast off: R1 differentiates it, and a half-precision backward through
    D would underflow (fp16) or lose the penalty's precision (bf16). The fake forward keeps the autocast precision.
    """

    def __init__(self, discriminator: nn.Module, pairwise: bool, r1_gamma: float):
        super().__init__()
        self.discriminator = discriminator
        self.pairwise = pairwise
        self.r1_gamma = r1_gamma

    def forward(self, real: torch.Tensor, fake: torch.Tensor, level: int, alpha: float) -> dict[str, torch.Tensor]:
        """real, fake: (B, F, 3, H, W). Returns loss (total), d_loss, r1, real/fake logit means."""
        if not self.pairwise:
            real, fake = real[:, 0], fake[:, 0]
        real = real.detach().float().requires_grad_(True)
        with torch.autocast(device_type=real.device.type, enabled=False):
            real_logits = self.discriminator(real, level, alpha)
            r1 = r1_penalty(real_logits, real, self.r1_gamma)
        fake_logits = self.discriminator(fake.detach(), level, alpha)
        d_loss = d_logistic_loss(real_logits, fake_logits)
        return {
            "loss": d_loss + r1,
            "d_loss": d_loss.detach(),
            "r1": r1.detach(),
            "real_logits": real_logits.detach().float().mean(),
            "fake_logits": fake_logits.detach().float().mean(),
        }


# ===================================================================================================== GAN: data
@dataclass
class _Streams:
    """Random sources of a GAN run; all are checkpointed, so a resume continues every stream where it stopped."""

    decisions: torch.Generator  # same seed on every rank: which D trains, crops, mixing level
    latents: torch.Generator  # per rank: z and noise maps of fakes

    def as_dict(self) -> dict[str, torch.Generator]:
        return {"decisions": self.decisions, "latents": self.latents}


def _make_streams(seed: int, rank: int) -> _Streams:
    def gen(offset: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed * 1_000_003 + offset)

    return _Streams(decisions=gen(1), latents=gen(1000 + rank))


class _RealSampler:
    """Real batches from a ``data.CachedStreamDataset``: sample n of the stream depends only on (seed, n).

    ``counters[name]`` is the global number of samples this stream has served (all processes together); it is
    checkpointed, so a resume continues the exact same stream. Every draw takes one global batch of consecutive
    sample numbers and gives each process its own contiguous slice (as ``data.StreamSampler`` does).
    """

    def __init__(self, dataset, name: str, counters: dict[str, int], process_index: int, num_processes: int):
        self.dataset = dataset
        self.name = name
        self.counters = counters
        self.process_index = process_index
        self.num_processes = num_processes

    def batch(self, size: int, device: torch.device) -> torch.Tensor:
        first = self.counters[self.name] + self.process_index * size
        items = [self.dataset[n] for n in range(first, first + size)]
        self.counters[self.name] += size * self.num_processes
        return torch.stack(items).to(device)


def _cache_summary(summary: Any) -> str:
    """One line: counts and skipped inputs per reason (corrupt, one-frame, mixed-size videos...)."""
    if hasattr(summary, "num_images"):
        return (
            f"{summary.num_images} images, {summary.num_videos} videos ({summary.num_video_frames} frames), "
            f"{len(summary.skipped)} skipped {summary.skipped_counts or ''}".rstrip()
        )
    return str(summary)


def _prepare_data_cache(
    accelerator,
    image_dirs: list[Path],
    video_dirs: list[Path],
    cache_dir: Path,
    resolutions: list[int],
    config: GanTrainingConfig,
    args: argparse.Namespace,
) -> None:
    """Build (or top up) the data cache on the main process while the others wait; every process gets its verdict.

    What was skipped is logged per input; when what is left cannot feed both discriminators the error says what
    happened to every input, before any training starts.
    """
    from deeplandscape_hf.training import data

    def prepare() -> None:
        if not (image_dirs or video_dirs):
            missing = sorted(set(resolutions) - set(data.load_manifest(cache_dir)["resolutions"]))
            if missing:
                raise TrainingInputError(
                    f"--cache_dir {cache_dir} lacks {missing} px and no source folders were given to add them."
                )
            return
        summary = data.prepare_dataset(image_dirs, video_dirs, cache_dir, resolutions)
        logger.info("data cache %s ready: %s", cache_dir, _cache_summary(summary))
        if config.use_pairwise and video_dirs and summary.num_videos == 0:
            raise TrainingInputError(
                f"{summary.all_skipped_message('video')}; see the warnings above. Config '{config.name}' trains the "
                "pairwise discriminator, which needs at least one usable video."
            )
        if image_dirs and summary.num_images == 0:
            if args.video_frames_as_images == "no" or summary.num_videos == 0:
                raise TrainingInputError(
                    f"{summary.all_skipped_message('image')}; see the warnings above. The image discriminator has "
                    "nothing to train on (--video_frames_as_images yes would let it use video frames)."
                )
            logger.warning(
                "%s: the image discriminator trains on video frames instead", summary.all_skipped_message("image")
            )

    error = run_control.agree_on_error(accelerator, prepare, (ValueError, OSError))
    if error:
        raise TrainingInputError(error)


# ===================================================================================================== GAN: loop
@dataclass
class _StepResult:
    """Detached numbers of one iteration, for logs."""

    pairwise: bool
    crops: bool
    d_loss: float
    r1: float
    g_loss: float
    real_logits: float
    fake_logits: float


def _set_lr(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    """Each param group keeps its multiplier (the mapping net: x 0.01) relative to the resolution's lr."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate * group.get("lr_multiplier", 1.0)


def _sample_fake_latents(
    generator_net: nn.Module,
    batch: int,
    frames: int,
    crossover: int | None,
    level: int,
    generator: torch.Generator,
    device: torch.device,
) -> dict[str, Any]:
    """Latents and noise for ``batch`` fake samples of ``frames`` frames (drawn in a fixed order from ``generator``)."""
    config = generator_net.config
    z_static_dim = config.z_dim - config.z_dynamic_dim

    def draw(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator).to(device)

    latents: dict[str, Any] = {
        "z_static": draw(batch, z_static_dim),
        "z_dynamic": draw(batch, frames, config.z_dynamic_dim),
        "mixing_z_static": None,
        "mixing_z_dynamic": None,
        "crossover_level": crossover,
    }
    if crossover is not None:
        latents["mixing_z_static"] = draw(batch, z_static_dim)
        latents["mixing_z_dynamic"] = draw(batch, frames, config.z_dynamic_dim)
    sizes = [4 * 2**i for i in range(level + 1)]
    latents["static_noise"] = [draw(batch, 1, s, s) for s in sizes]
    latents["dynamic_noise"] = [draw(batch * frames, 1, s, s) for s in sizes]
    return latents


def train_gan(args: argparse.Namespace) -> int:
    """The ``gan`` subcommand."""
    # 1. Everything that can be wrong with the inputs is checked before any work.
    config = build_gan_config(args)
    output_dir = Path(args.output_dir).expanduser()
    _check_hub_args(args)
    cache_dir = Path(args.cache_dir).expanduser() if args.cache_dir else output_dir / "data_cache"
    image_dirs = _check_folders(args.image_dir, "--image_dir", "images")
    video_dirs = _check_folders(args.video_dir, "--video_dir", "videos")
    if (
        not image_dirs
        and not video_dirs
        and not _cache_has(cache_dir, "images")
        and not _cache_has(cache_dir, "videos")
    ):
        raise TrainingInputError(
            "no training data: pass --image_dir (photos for the image D) and --video_dir (videos for the pairwise "
            "D), or a --cache_dir prepared earlier."
        )
    if config.use_pairwise and not video_dirs and not _cache_has(cache_dir, "videos"):
        raise TrainingInputError(
            f"config '{config.name}' trains the pairwise discriminator, which needs real videos: pass --video_dir "
            "(or use --config original, the plain StyleGAN without the pairwise D)."
        )
    root = _checkpoint_root(output_dir, "gan")
    resume = _resume_path(args, root)
    history = _check_resume_config(resume, "gan", config.to_dict(), RESUMABLE_CHANGES, _run_options(args))
    _check_output_dir(output_dir)  # last: the only check that creates something

    # 2. Accelerator, models, optimizers.
    from deeplandscape_hf.networks.discriminator import ImageDiscriminator, PairwiseDiscriminator
    from deeplandscape_hf.networks.generator import DeepLandscapeGenerator

    accelerator = _make_accelerator(args, output_dir)
    _setup_logging(accelerator)
    stop = _start_run(accelerator, output_dir, "gan")
    device = accelerator.device
    _seed_everything(args.seed)  # identical initial weights on every rank
    G = DeepLandscapeGenerator(config.generator_config())
    D_image = ImageDiscriminator(config.discriminator_config(frames=1))
    D_pair = PairwiseDiscriminator(config.discriminator_config(frames=2)) if config.use_pairwise else None
    G_ema = make_ema(G)
    schedule = config.schedule()
    mapping_params = list(G.mapping.parameters())
    mapping_ids = {id(p) for p in mapping_params}
    opt_g = torch.optim.Adam(
        [
            {"params": [p for p in G.parameters() if id(p) not in mapping_ids], "lr_multiplier": 1.0},
            {"params": mapping_params, "lr_multiplier": G.config.mapping_lr_multiplier},
        ],
        lr=schedule.learning_rates[schedule.resolutions[0]],
        betas=ADAM_BETAS,
    )
    opt_d_image = torch.optim.Adam(D_image.parameters(), lr=1e-3, betas=ADAM_BETAS)
    opt_d_pair = torch.optim.Adam(D_pair.parameters(), lr=1e-3, betas=ADAM_BETAS) if D_pair is not None else None
    streams = _make_streams(args.seed, accelerator.process_index)

    modules: dict[str, nn.Module] = {"generator": G, "generator_ema": G_ema, "discriminator_image": D_image}
    optimizers: dict[str, torch.optim.Optimizer] = {"generator": opt_g, "discriminator_image": opt_d_image}
    if D_pair is not None and opt_d_pair is not None:
        modules["discriminator_pairwise"] = D_pair
        optimizers["discriminator_pairwise"] = opt_d_pair

    # 3. Data (cache built once, by the main process).
    _prepare_data_cache(accelerator, image_dirs, video_dirs, cache_dir, schedule.resolutions, config, args)

    # 4. Resume, then wrap for distributed training.
    iteration, num_images_seen = 0, 0
    data_counters = {"images": 0, "pairs": 0, "crops": 0}  # samples served per real-data stream (all ranks)
    G.to(device), G_ema.to(device), D_image.to(device)
    if D_pair is not None:
        D_pair.to(device)
    if resume is not None:
        saved = _load_checkpoint(accelerator, resume, modules, optimizers, streams.as_dict())
        iteration, num_images_seen = int(saved["iteration"]), int(saved["num_images_seen"])
        data_counters.update({k: int(v) for k, v in saved["data_counters"].items()})
    renderer = FakeRenderer(G)
    image_objective = DiscriminatorObjective(D_image, pairwise=False, r1_gamma=config.r1_gamma)
    pair_objective = DiscriminatorObjective(D_pair, True, config.r1_gamma) if D_pair is not None else None
    prepared = accelerator.prepare(renderer, image_objective, opt_g, opt_d_image)
    renderer_ddp, image_objective_ddp, opt_g, opt_d_image = prepared
    pair_objective_ddp = None
    if pair_objective is not None:
        pair_objective_ddp, opt_d_pair = accelerator.prepare(pair_objective, opt_d_pair)

    stop_images = None if config.max_kimg is None else int(round(config.max_kimg * 1000))
    stop_iterations = config.max_iterations

    def finished() -> bool:
        done_images = stop_images is not None and num_images_seen >= stop_images
        done_iterations = stop_iterations is not None and iteration >= stop_iterations
        return done_images or done_iterations

    if accelerator.is_main_process:
        accelerator.init_trackers("deeplandscape-gan", config=_flat_hparams({**config.to_dict(), "seed": args.seed}))
    logger.info("***** Running GAN training *****")
    logger.info(
        "  config = %s, resolutions = %s, processes = %d, resume = %s",
        config.name,
        schedule.resolutions,
        accelerator.num_processes,
        resume,
    )
    logger.info("  stop at %s kimg / %s iterations", config.max_kimg, stop_iterations)

    sample_latents = _fixed_sample_latents(G, args, device)

    def enter_phase(state: PhaseState) -> dict[str, _RealSampler]:
        """Real-data samplers and learning rates of the phase ``state`` is in."""
        samplers = _build_samplers(
            cache_dir, state.resolution, config, args.seed, data_counters, accelerator, args.video_frames_as_images
        )
        for optimizer in (opt_g, opt_d_image, opt_d_pair):
            if optimizer is not None:
                _set_lr(optimizer, state.learning_rate)
        logger.info(
            "phase %d: %d px, batch %d, lr %g (%s)",
            state.phase_index,
            state.resolution,
            state.batch_size,
            state.learning_rate,
            state.phase,
        )
        return samplers

    # The first phase's data is opened before the progress bar, so a data problem is reported before any training.
    phase_index = schedule.state_at(num_images_seen).phase_index
    samplers = enter_phase(schedule.state_at(num_images_seen))
    if stop_images is not None:
        progress = _progress(accelerator, stop_images, num_images_seen, "img", "gan")
    else:
        progress = _progress(accelerator, stop_iterations, iteration, "it", "gan")
    start_time, start_images = time.time(), num_images_seen
    stopping, last_checkpoint = False, None

    # 5. The loop: one D step (image or pairwise) and one G step against that same D per iteration.
    while not finished() and not stopping:
        state = schedule.state_at(num_images_seen)
        if state.phase_index != phase_index:
            phase_index = state.phase_index
            samplers = enter_phase(state)
        per_process = max(1, state.batch_size // accelerator.num_processes)
        result = _gan_iteration(
            accelerator,
            config,
            state,
            per_process,
            streams,
            samplers,
            renderer,
            renderer_ddp,
            image_objective_ddp,
            pair_objective_ddp,
            opt_g,
            opt_d_image,
            opt_d_pair,
            device,
        )
        update_ema(G_ema, G, config.ema_decay)
        iteration += 1
        images_this_step = per_process * accelerator.num_processes
        num_images_seen += images_this_step
        progress.update(images_this_step if stop_images is not None else 1)

        if iteration % args.log_steps == 0 or finished():
            elapsed = max(time.time() - start_time, 1e-9)
            logs = {
                "loss/d_pair" if result.pairwise else "loss/d_image": result.d_loss,
                "loss/g": result.g_loss,
                "reg/r1": result.r1,
                "logits/real": result.real_logits,
                "logits/fake": result.fake_logits,
                "progress/kimg": num_images_seen / 1000,
                "progress/resolution": state.resolution,
                "progress/alpha": state.alpha,
                "progress/pairwise_prob": state.pairwise_probability,
                "timing/images_per_s": (num_images_seen - start_images) / elapsed,
            }
            accelerator.log(logs, step=iteration)
            progress.set_postfix(
                res=state.resolution,
                phase=state.phase,
                alpha=f"{state.alpha:.2f}",
                d=f"{result.d_loss:.3f}",
                g=f"{result.g_loss:.3f}",
                r1=f"{result.r1:.3f}",
                refresh=False,
            )
        counters = {
            "iteration": iteration,
            "num_images_seen": num_images_seen,
            "data_counters": dict(data_counters),
            "images_per_s": round((num_images_seen - start_images) / max(time.time() - start_time, 1e-9), 3),
            "level": state.level,
            "alpha": state.alpha,
            "resolution": state.resolution,
            "history": history,
            "options": _run_options(args),
        }
        stopping = run_control.any_rank(accelerator, stop.requested)  # every rank stops at this same iteration
        if iteration % args.checkpointing_steps == 0 or finished() or stopping:
            last_checkpoint = _save_checkpoint(
                accelerator,
                root,
                iteration,
                "gan",
                config.to_dict(),
                counters,
                modules,
                optimizers,
                streams.as_dict(),
                args.checkpoints_total_limit,
            )
        if accelerator.is_main_process and (iteration % args.sample_steps == 0 or finished()) and not stopping:
            _write_gan_sample(
                G_ema, sample_latents, schedule.state_at(num_images_seen), output_dir, iteration, accelerator
            )
    progress.close()
    if stopping and not finished():
        return _finish(accelerator, _report_stop(accelerator, stop, args, last_checkpoint))

    # 6. Export the hub layout: EMA generator at the root, discriminators in subfolders.
    if accelerator.is_main_process:
        final_state = schedule.state_at(max(num_images_seen - 1, 0))
        _export_gan(G_ema, D_image, D_pair, config, output_dir, final_state)
        if args.push_to_hub:
            _push_to_hub(args, output_dir)
    _finish(accelerator)
    return 0


def _cache_has(cache_dir: Path, kind: str) -> bool:
    """Whether a prepared cache already holds ``kind`` ('images' / 'videos') so no source folder is needed."""
    from deeplandscape_hf.training import data

    try:
        return bool(data.load_manifest(cache_dir).get(kind))
    except (FileNotFoundError, ValueError, OSError):
        return False


def _build_samplers(
    cache_dir: Path,
    resolution: int,
    config: GanTrainingConfig,
    seed: int,
    counters: dict[str, int],
    accelerator,
    video_frames_as_images: str = "auto",
) -> dict[str, _RealSampler]:
    """Real-data samplers at one resolution (rebuilt at every resolution change, like the official loaders)."""
    from deeplandscape_hf.training import data

    rank, count = accelerator.process_index, accelerator.num_processes
    try:
        samplers = {
            "images": _RealSampler(
                data.ImageDataset(
                    cache_dir,
                    resolution,
                    seed,
                    include_video_frames={"auto": None, "yes": True, "no": False}[video_frames_as_images],
                ),
                "images",
                counters,
                rank,
                count,
            )
        }
        if config.use_pairwise:
            pairs = data.FramePairDataset(cache_dir, resolution, seed)
            samplers["pairs"] = _RealSampler(pairs, "pairs", counters, rank, count)
            if config.crop_probability > 0:
                crops = data.SameFrameCropsDataset(cache_dir, resolution, seed)
                samplers["crops"] = _RealSampler(crops, "crops", counters, rank, count)
    except ValueError as error:
        raise TrainingInputError(str(error)) from error
    return samplers


def _gan_iteration(
    accelerator,
    config: GanTrainingConfig,
    state: PhaseState,
    batch: int,
    streams: _Streams,
    samplers: dict[str, _RealSampler],
    renderer: FakeRenderer,
    renderer_ddp: nn.Module,
    image_objective_ddp: nn.Module,
    pair_objective_ddp: nn.Module | None,
    opt_g: torch.optim.Optimizer,
    opt_d_image: torch.optim.Optimizer,
    opt_d_pair: torch.optim.Optimizer | None,
    device: torch.device,
) -> _StepResult:
    """One iteration: D step on real vs fake (image or pairwise), then a G step against that D."""
    choice = choose_iteration(state, config.crop_probability, config.mixing_probability, streams.decisions)
    pairwise = choice.pairwise and pair_objective_ddp is not None
    frames = 2 if pairwise else 1
    objective_ddp = pair_objective_ddp if pairwise else image_objective_ddp
    opt_d = opt_d_pair if pairwise else opt_d_image
    assert objective_ddp is not None and opt_d is not None
    discriminator = unwrap_model(objective_ddp).discriminator
    level, alpha = state.level, state.alpha

    # 1. D step. Fakes come from G without gradients (or, on crop steps, are two crops of one real frame).
    if pairwise:
        real = samplers["pairs"].batch(batch, device)  # (B, 2, 3, H, W)
    else:
        real = samplers["images"].batch(batch, device).unsqueeze(1)  # (B, 1, 3, H, W)
    crops = pairwise and choice.crops and "crops" in samplers
    with accelerator.autocast():
        if crops:
            fake = samplers["crops"].batch(batch, device)
        else:
            latents = _sample_fake_latents(
                renderer.generator, batch, frames, choice.crossover_level, level, streams.latents, device
            )
            with torch.no_grad():
                fake = renderer(**latents, level=level, alpha=alpha)
        d_out = objective_ddp(real, fake, level, alpha)
    accelerator.backward(d_out["loss"])
    opt_d.step()
    opt_d.zero_grad(set_to_none=True)

    # 2. G step against the same D (official: loss from the current D only; no G step combines both Ds).
    discriminator.requires_grad_(False)
    try:
        latents = _sample_fake_latents(
            renderer.generator, batch, frames, choice.crossover_level, level, streams.latents, device
        )
        with accelerator.autocast():
            fake = renderer_ddp(**latents, level=level, alpha=alpha)
            logits = discriminator(fake if pairwise else fake[:, 0], level, alpha)
            g_loss = g_nonsaturating_loss(logits)
        accelerator.backward(g_loss)
        opt_g.step()
        opt_g.zero_grad(set_to_none=True)
    finally:
        discriminator.requires_grad_(True)
    return _StepResult(
        pairwise=pairwise,
        crops=crops,
        d_loss=_mean_across(accelerator, d_out["d_loss"]),
        r1=_mean_across(accelerator, d_out["r1"]),
        g_loss=_mean_across(accelerator, g_loss.detach()),
        real_logits=float(d_out["real_logits"]),
        fake_logits=float(d_out["fake_logits"]),
    )


def _mean_across(accelerator, value: torch.Tensor) -> float:
    if accelerator.num_processes == 1:
        return float(value)
    return float(accelerator.reduce(value.detach().float().reshape(1), reduction="mean"))


# ============================================================================================= GAN: samples, export
def _fixed_sample_latents(generator_net: nn.Module, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Fixed z, z_dyn path and noise for the periodic sample videos (same every time, so progress is visible)."""
    generator = torch.Generator().manual_seed(args.seed + 12345)
    count, frames = max(1, args.num_sample_videos), max(2, args.num_sample_frames)
    config = generator_net.config
    z_static = torch.randn(count, config.z_dim - config.z_dynamic_dim, generator=generator)
    z_dyn_start = torch.randn(count, config.z_dynamic_dim, generator=generator)
    z_dyn_end = torch.randn(count, config.z_dynamic_dim, generator=generator)
    weights = torch.linspace(0, 1, frames)[None, :, None]
    z_dynamic = torch.lerp(z_dyn_start[:, None], z_dyn_end[:, None], weights)  # official INTERPOLATE style
    velocity = torch.randn(2, generator=generator, dtype=torch.float64)
    return {
        "z_static": z_static.to(device),
        "z_dynamic": z_dynamic.to(device),
        "frames": frames,
        "velocity": velocity,
        "noise_seed": args.seed + 54321,
    }


@torch.no_grad()
def _write_gan_sample(
    g_ema: nn.Module, latents: dict[str, Any], state: PhaseState, output_dir: Path, iteration: int, accelerator
) -> Path | None:
    """Sample grid video with the EMA G at the current level: static noise fixed, dynamic noise shifting."""
    try:
        from deeplandscape_hf.animation.video import tile_videos, write_video
        from deeplandscape_hf.motion.noise import shift_noise
    except ImportError as error:  # sample videos are a convenience; never stop training for them
        logger.warning("no sample video (%s)", error)
        return None
    level, frames = state.level, latents["frames"]
    count = latents["z_static"].shape[0]
    generator = torch.Generator().manual_seed(latents["noise_seed"])
    device = latents["z_static"].device
    static = [torch.randn(count, 1, 4 * 2**i, 4 * 2**i, generator=generator).to(device) for i in range(level + 1)]
    dynamic = shift_noise(level + 1, frames, count, velocity=latents["velocity"], generator=generator)
    dynamic = [d.flatten(0, 1).to(device) for d in dynamic]  # (B*T, 1, s, s)
    renderer = FakeRenderer(g_ema)
    video = renderer(latents["z_static"], latents["z_dynamic"], None, None, None, static, dynamic, level, state.alpha)
    video = video.float().clamp(-1, 1).cpu()  # (B, T, 3, H, W)
    scale = max(1, 64 // video.shape[-1])
    if scale > 1:  # tiny resolutions are unreadable in a player; upscale with nearest
        video = F.interpolate(video.flatten(0, 1), scale_factor=scale, mode="nearest").unflatten(0, video.shape[:2])
    grid = tile_videos(list(video))
    path = output_dir / "samples" / "gan" / f"sample-{iteration:08d}-{state.resolution}px.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_video(grid, path, fps=SAMPLE_FPS)
    except Exception as error:  # noqa: BLE001 - an encoder problem must not kill a long run
        logger.warning("could not write sample video %s: %s", path, error)
        return None
    _log_sample_image(accelerator, grid[0], iteration)
    return path


def _log_sample_image(accelerator, frame: torch.Tensor, iteration: int) -> None:
    """First frame of the sample grid to the trackers that take images."""
    image = (frame.clamp(-1, 1) + 1) / 2
    for tracker in accelerator.trackers:
        try:
            if tracker.name == "tensorboard":
                tracker.writer.add_image("samples", image, iteration)
            elif tracker.name == "wandb":
                import wandb

                tracker.log({"samples": wandb.Image(image.permute(1, 2, 0).numpy())}, step=iteration)
        except Exception as error:  # noqa: BLE001
            logger.warning("could not log sample image to %s: %s", tracker.name, error)


def _export_gan(
    g_ema: nn.Module,
    d_image: nn.Module,
    d_pair: nn.Module | None,
    config: GanTrainingConfig,
    output_dir: Path,
    state: PhaseState,
) -> None:
    """Hub layout (DESIGN section 2): EMA G at the root with its mean style, the Ds under ``discriminators/``."""
    G_export = unwrap_model(g_ema)
    G_export.compute_w_avg()  # truncation and the encoder's starting point need the mean style
    if state.phase != "final":
        logger.warning(
            "training stopped at %d px (%s phase, alpha %.2f) before the final %d px resolution had faded in; the "
            "exported generator renders %d px but only its first %d levels are trained.",
            state.resolution,
            state.phase,
            state.alpha,
            config.resolution,
            config.resolution,
            state.level + 1,
        )
    _save_component(G_export, output_dir)
    _save_component(d_image, output_dir / "discriminators" / "image")
    if d_pair is not None:
        _save_component(d_pair, output_dir / "discriminators" / "pairwise")
    _write_pipeline_json(output_dir, config.resolution)
    _atomic_write_text(output_dir / "training_config.json", json.dumps(config.to_dict(), indent=2))
    logger.info("exported the model to %s", output_dir)


# ================================================================================================ encoder, dynamics
def _load_generator(path: str, device: torch.device) -> nn.Module:
    from deeplandscape_hf.networks.generator import DeepLandscapeGenerator
    from deeplandscape_hf.networks.hub import ModelNotFoundError

    try:
        G = DeepLandscapeGenerator.from_pretrained(path)
    except (ModelNotFoundError, FileNotFoundError) as error:
        raise TrainingInputError(f"--generator '{path}': {error}") from error
    G.requires_grad_(False)
    return G.eval().to(device)


def _ensure_generator_in(folder: Path, generator_path: str, generator: nn.Module) -> None:
    """Make ``folder`` a complete model: when it has no generator yet, copy the source model's root files (or, for a
    hub id, save the loaded generator) next to the new ``encoder/`` or ``dynamics/`` subfolder."""
    if (folder / CONFIG_NAME).is_file():
        return
    source = Path(generator_path).expanduser()
    if source.is_dir():
        for name in (CONFIG_NAME, WEIGHTS_NAME, "README.md", "pipeline.json"):
            if (source / name).is_file():
                shutil.copy2(source / name, folder / name)
        for sub in ("discriminators", "encoder", "dynamics"):
            if (source / sub).is_dir() and not (folder / sub).exists():
                shutil.copytree(source / sub, folder / sub)
    else:
        _save_component(generator, folder)
        _write_pipeline_json(folder, generator.resolution)
    logger.info("added the generator from %s to %s", generator_path, folder)


@dataclass
class _SimpleTask:
    """What differs between the encoder and the dynamics trainers; the loop around them is shared."""

    command: str
    model: nn.Module
    config: dict[str, Any]  # stored in checkpoints; a resume under another one is refused
    loss_fn: Callable[[nn.Module, torch.Generator, torch.device], dict[str, torch.Tensor]]
    subfolder: str
    generator: nn.Module  # the frozen G the samples are drawn from
    sample_fn: Callable[[nn.Module, Path], Path | None] | None = None  # writes one sample file for an iteration
    history: list[dict[str, Any]] = field(default_factory=list)  # changes made at earlier resumes


def _train_simple(
    args: argparse.Namespace,
    accelerator,
    task: _SimpleTask,
    output_dir: Path,
    resume: Path | None,
    stop: run_control.StopSignals,
) -> int:
    """Plain supervised loop on on-the-fly batches: Adam, grad clip, checkpoints, trackers, export to a subfolder."""
    device = accelerator.device
    model = task.model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    generator = torch.Generator().manual_seed(args.seed * 1_000_003 + 3000 + accelerator.process_index)
    generators = {"latents": generator}
    root = _checkpoint_root(output_dir, task.command)
    iteration = 0
    if resume is not None:
        saved = _load_checkpoint(accelerator, resume, {task.command: model}, {task.command: optimizer}, generators)
        iteration = int(saved["iteration"])
    model_ddp, optimizer = accelerator.prepare(model, optimizer)
    if accelerator.is_main_process:
        accelerator.init_trackers(
            f"deeplandscape-{task.command}", config=_flat_hparams({**task.config, "seed": args.seed})
        )
    progress = _progress(accelerator, args.max_train_steps, iteration, "it", task.command)
    logger.info("***** Running %s training: %s *****", task.command, task.config)
    stopping, last_checkpoint = False, None
    while iteration < args.max_train_steps and not stopping:
        model_ddp.train()
        with accelerator.autocast():
            out = task.loss_fn(model_ddp, generator, device)
        accelerator.backward(out["loss"])
        if accelerator.sync_gradients and args.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model_ddp.parameters(), args.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        iteration += 1
        progress.update(1)
        if iteration % args.log_steps == 0 or iteration == args.max_train_steps:
            logs = {f"loss/{k}": _mean_across(accelerator, v.detach()) for k, v in out.items()}
            accelerator.log(logs, step=iteration)
            progress.set_postfix(loss=f"{logs['loss/loss']:.4f}", refresh=False)
        if (
            task.sample_fn is not None
            and accelerator.is_main_process
            and (iteration % args.sample_steps == 0 or iteration == args.max_train_steps)
            and not stopping
        ):
            model.eval()
            with torch.no_grad():
                task.sample_fn(model, output_dir / "samples" / task.command / f"sample-{iteration:08d}")
        stopping = run_control.any_rank(accelerator, stop.requested)  # every rank stops at this same iteration
        if iteration % args.checkpointing_steps == 0 or iteration == args.max_train_steps or stopping:
            last_checkpoint = _save_checkpoint(
                accelerator,
                root,
                iteration,
                task.command,
                task.config,
                {"iteration": iteration, "history": task.history, "options": _run_options(args)},
                {task.command: model},
                {task.command: optimizer},
                generators,
                args.checkpoints_total_limit,
            )
    progress.close()
    if stopping and iteration < args.max_train_steps:
        return _finish(accelerator, _report_stop(accelerator, stop, args, last_checkpoint))
    if accelerator.is_main_process:
        _ensure_generator_in(output_dir, args.generator, task.generator)
        _save_component(model, output_dir / task.subfolder)
        logger.info("exported %s to %s", task.command, output_dir / task.subfolder)
        if args.push_to_hub:
            _push_to_hub(args, output_dir)
    _finish(accelerator)
    return 0


def _simple_setup(args: argparse.Namespace, command: str) -> tuple[Path, Any, nn.Module, run_control.StopSignals]:
    """Shared first steps of encoder / dynamics: validate, make the accelerator, claim the folder, load the frozen G."""
    _check_hub_args(args)
    if args.max_train_steps is None or args.max_train_steps < 1:
        raise TrainingInputError(f"--max_train_steps must be >= 1, got {args.max_train_steps}.")
    if args.batch_size < 1:
        raise TrainingInputError(f"--batch_size must be >= 1, got {args.batch_size}.")
    output_dir = Path(args.output_dir).expanduser()
    _check_output_dir(output_dir)
    accelerator = _make_accelerator(args, output_dir)
    _setup_logging(accelerator)
    stop = _start_run(accelerator, output_dir, command)
    G = _load_generator(args.generator, accelerator.device)
    return output_dir, accelerator, G, stop


def _write_frames(frames: torch.Tensor, path: Path) -> Path | None:
    """Frames (T, 3, H, W) in [-1, 1] to ``path`` (mp4 or png), upscaled to >= 64 px; never raises."""
    try:
        from deeplandscape_hf.animation.video import write_video

        frames = frames.detach().float().clamp(-1, 1).cpu()
        scale = max(1, 64 // frames.shape[-1])
        if scale > 1:
            frames = F.interpolate(frames, scale_factor=scale, mode="nearest")
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_video(frames, path, fps=SAMPLE_FPS)
    except Exception as error:  # noqa: BLE001 - samples are a convenience; never stop a long run for them
        logger.warning("could not write sample %s: %s", path, error)
        return None


def _fixed_z_and_noise(G: nn.Module, count: int, seed: int, device: torch.device):  # noqa: N803
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(count, G.config.z_dim, generator=generator).to(device)
    static, dynamic = G.make_noise(count, generator=generator)
    return z, [n.to(device) for n in static], [n.to(device) for n in dynamic]


def train_encoder(args: argparse.Namespace) -> int:
    """The ``encoder`` subcommand: E learns W+ of images rendered by a frozen G (official train_encoder.py)."""
    from deeplandscape_hf.networks.encoder import BackboneWeightsUnavailableError, DeepLandscapeEncoder, EncoderConfig

    if args.generator and not Path(args.generator).expanduser().exists() and args.generator.count("/") != 1:
        raise TrainingInputError(f"--generator '{args.generator}' does not exist.")
    output_dir = Path(args.output_dir).expanduser()
    root = _checkpoint_root(output_dir, "encoder")
    resume = _resume_path(args, root)
    output_dir, accelerator, G, stop = _simple_setup(args, "encoder")
    image_size = args.image_size or max(32, min(256, G.resolution))
    _seed_everything(args.seed)
    try:
        config = EncoderConfig(
            backbone=args.backbone,
            num_levels=G.num_levels,
            w_dim=G.config.w_dim,
            hidden=args.hidden,
            pretrained_backbone=args.pretrained_backbone,
            image_size=image_size,
        )
        encoder = DeepLandscapeEncoder(config)
    except BackboneWeightsUnavailableError as error:
        raise TrainingInputError(f"{error}\nOr pass --no_pretrained_backbone.") from error
    except ValueError as error:
        raise TrainingInputError(f"bad encoder settings: {error}") from error
    if resume is None:
        encoder.set_output_bias(G.w_avg.cpu())  # start at the mean style
    task_config = {
        "generator_config": json.loads(json.dumps(_asdict(G.config))),
        "generator_sha256": _weights_sha256({"generator": G}),  # the encoder is only valid for this G
        "backbone": args.backbone,
        "image_size": image_size,
        "hidden": args.hidden,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "z_scale": args.z_scale,
        "mixing_probability": args.mixing_probability,
        "image_loss_weight": args.image_loss_weight,
    }
    history = _check_resume_config(resume, "encoder", task_config, options=_run_options(args))
    batch = max(1, args.batch_size // accelerator.num_processes)

    def loss_fn(model: nn.Module, generator: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        w_plus, images, noise = _encoder_batch(G, batch, args.z_scale, args.mixing_probability, generator, device)
        inputs = images
        if images.shape[-1] != image_size:
            inputs = F.interpolate(
                images,
                size=(image_size, image_size),
                mode="bicubic",
                align_corners=False,
                antialias=images.shape[-1] > image_size,
            )
        predicted = model(inputs)
        # Official: the sum over W+ entries of the L1 error of each (train_encoder.py, one key per AdaIN).
        w_loss = F.l1_loss(predicted.float(), w_plus, reduction="none").mean(dim=(0, 2)).sum()
        out = {"w_plus": w_loss.detach()}
        loss = w_loss
        if args.image_loss_weight > 0:
            reconstruction = G.synthesize(predicted.float(), noise[0], noise[1])
            image_loss = F.l1_loss(reconstruction, images)
            loss = loss + args.image_loss_weight * image_loss
            out["image"] = image_loss.detach()
        out["loss"] = loss
        return out

    def sample_fn(model: nn.Module, stem: Path) -> Path | None:
        # Top row: G(z) for fixed z and noise; bottom row: G(E(G(z))) with the same noise (what E already gets).
        z, static, dynamic = _fixed_z_and_noise(G, 4, args.seed + 777, accelerator.device)
        images = G.synthesize(G.broadcast_w(G.map(z)), static, dynamic)
        inputs = F.interpolate(images, size=(image_size, image_size), mode="bicubic", align_corners=False)
        reconstruction = G.synthesize(model(inputs).float(), static, dynamic)
        grid = torch.cat([torch.cat(list(images), dim=-1), torch.cat(list(reconstruction), dim=-1)], dim=-2)
        return _write_frames(grid[None], stem.with_suffix(".png"))

    task = _SimpleTask("encoder", encoder, task_config, loss_fn, "encoder", G, sample_fn, history)
    return _train_simple(args, accelerator, task, output_dir, resume, stop)


def _asdict(config: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(config)


@torch.no_grad()
def _encoder_batch(
    generator_net: nn.Module,
    batch: int,
    z_scale: float,
    mixing_probability: float,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, tuple[list[torch.Tensor], list[torch.Tensor]]]:
    """(W+ target, rendered images at G's resolution, noise) as in the official generate_dataset.py.

    z_st = z_scale * N(0, 1) and z_dyn ~ N(0, 1) (the official RESAMPLE replaces z_dyn by fresh normals); with
    probability ``mixing_probability`` a second style takes over from a random level (>= 1) upward. No truncation.
    """
    G = generator_net
    config = G.config
    z_static_dim = config.z_dim - config.z_dynamic_dim

    def draw_z() -> torch.Tensor:
        z_static = z_scale * torch.randn(batch, z_static_dim, generator=generator)
        z_dynamic = torch.randn(batch, config.z_dynamic_dim, generator=generator)
        return torch.cat([z_static, z_dynamic], dim=1).to(device)

    w_plus = G.broadcast_w(G.map(draw_z()))
    uniforms = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
    if G.num_levels > 1 and uniforms[0] < mixing_probability:
        crossover = min(G.num_levels - 2, int(uniforms[1] * (G.num_levels - 1)))  # official randint(1, step) - 1
        w_plus = G.mix_styles(w_plus, G.map(draw_z()), crossover)
    w_plus = w_plus.contiguous()
    static, dynamic = G.make_noise(batch, generator=generator)
    static, dynamic = [s.to(device) for s in static], [d.to(device) for d in dynamic]
    images = G.synthesize(w_plus, static, dynamic).float()
    return w_plus.float(), images, (static, dynamic)


def train_dynamics(args: argparse.Namespace) -> int:
    """The ``dynamics`` subcommand: network A on (w1, z_far, t, w2) drawn from the frozen mapping net."""
    from deeplandscape_hf.networks.dynamics import (
        DynamicsConfig,
        StyleDynamicsNet,
        dynamics_loss,
        sample_dynamics_batch,
    )

    if args.generator and not Path(args.generator).expanduser().exists() and args.generator.count("/") != 1:
        raise TrainingInputError(f"--generator '{args.generator}' does not exist.")
    output_dir = Path(args.output_dir).expanduser()
    resume = _resume_path(args, _checkpoint_root(output_dir, "dynamics"))
    output_dir, accelerator, G, stop = _simple_setup(args, "dynamics")
    if G.config.z_dynamic_dim < 1:
        raise TrainingInputError(
            "this generator has no dynamic latent (z_dynamic_dim = 0): network A has nothing "
            "to learn. Train G with a config that has z_dyn (any but original / frame_discr / "
            "two_noises)."
        )
    _seed_everything(args.seed)
    try:
        model = StyleDynamicsNet(
            DynamicsConfig(w_dim=G.config.w_dim, z_dynamic_dim=G.config.z_dynamic_dim, depth=args.depth)
        )
    except ValueError as error:
        raise TrainingInputError(f"bad dynamics settings: {error}") from error
    task_config = {
        "generator_config": json.loads(json.dumps(_asdict(G.config))),
        "generator_sha256": _weights_sha256({"generator": G}),  # network A is only valid for this G
        "depth": args.depth,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
    }
    history = _check_resume_config(resume, "dynamics", task_config, options=_run_options(args))
    batch = max(1, args.batch_size // accelerator.num_processes)

    def loss_fn(net: nn.Module, generator: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        # z is drawn on the CPU (the checkpointed generator lives there) and mapped on the training device.
        w1, z_far, t, w2 = sample_dynamics_batch(
            lambda z: G.mapping(z.to(device)),
            batch,
            G.config.z_dim,
            G.config.z_dynamic_dim,
            generator=generator,
            device=torch.device("cpu"),
        )
        w1, z_far, t, w2 = (x.to(device) for x in (w1, z_far, t, w2))
        predicted = net(w1, z_far, t)
        return {"loss": dynamics_loss(predicted.float(), w1, w2)}

    def sample_fn(net: nn.Module, stem: Path) -> Path | None:
        # Fixed scenes whose style moves toward one z_dyn target as t goes 0 -> 1, rendered with fixed noise.
        count, frames = 4, 16
        z, static, dynamic = _fixed_z_and_noise(G, count, args.seed + 778, accelerator.device)
        target = torch.randn(G.config.z_dynamic_dim, generator=torch.Generator().manual_seed(args.seed + 779))
        w = G.map(z)
        video = []
        for t in torch.linspace(0, 1, frames).tolist():
            moved = net(w, target.to(w.device), t)
            video.append(torch.cat(list(G.synthesize(G.broadcast_w(moved), static, dynamic)), dim=-1))
        return _write_frames(torch.stack(video), stem.with_suffix(".mp4"))

    task = _SimpleTask("dynamics", model, task_config, loss_fn, "dynamics", G, sample_fn, history)
    return _train_simple(args, accelerator, task, output_dir, resume, stop)


def run_prepare(args: argparse.Namespace) -> int:
    """The ``prepare`` subcommand: a thin wrapper on ``data.prepare_dataset``."""
    from deeplandscape_hf.training import data

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    image_dirs = _check_folders(args.image_dir, "--image_dir", "images")
    video_dirs = _check_folders(args.video_dir, "--video_dir", "videos")
    if not image_dirs and not video_dirs:
        raise TrainingInputError("nothing to prepare: pass --image_dir and/or --video_dir.")
    try:
        stats = data.prepare_dataset(image_dirs, video_dirs, Path(args.cache_dir).expanduser(), args.resolutions)
    except data.NoUsableInputError as error:
        raise TrainingInputError(str(error)) from error
    logger.info("data cache %s ready: %s", args.cache_dir, _cache_summary(stats))
    return 0


# ===================================================================================================== entry point
def main(args: argparse.Namespace) -> int:
    """Run one subcommand; ``TrainingInputError`` (a ``ValueError``) explains bad input before any work is done."""
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "gan": train_gan,
        "encoder": train_encoder,
        "dynamics": train_dynamics,
        "prepare": run_prepare,
    }
    with _RUN_RESOURCES:
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
