"""What every training subcommand shares: input checks, the accelerator, stopping, the run's checkpoints, the exit.

Checks raise :class:`TrainingInputError` before any work starts. A run claims its output folder and turns Ctrl-C /
SIGTERM into a stop at the next iteration (``start_run``); ``RUN_RESOURCES`` releases both however the subcommand
ends. ``save_checkpoint`` / ``load_checkpoint`` put the modules, optimizers and random streams of every process into
the verified folders of :mod:`.checkpoint`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..networks.hub import load_state_dict_strict, unwrap_model
from . import checkpoint as ckpt
from . import run_control
from .configs import ARCHITECTURE_FIELDS

logger = logging.getLogger(__name__)

SAMPLE_FPS = 12  # frame rate of the sample videos every loop writes


class TrainingInputError(ValueError):
    """A problem with the command line or the data, found before any training work starts."""


# Released when a subcommand ends however it ends (the output-folder lock, the signal handlers); the multi-process
# exit in finish closes it itself because os._exit skips every with-block.
RUN_RESOURCES = contextlib.ExitStack()


def releases_run_resources(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a subcommand inside ``RUN_RESOURCES``, so its lock and signal handlers go away when it returns or raises
    (also when it is called from a notebook rather than from ``train_accelerate.py``)."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        with RUN_RESOURCES:
            return command(args)

    return run


def check_output_dir(path: Path) -> None:
    """Create the folder and prove it is writable, before anything expensive happens."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as error:
        raise TrainingInputError(f"--output_dir '{path}' is not writable: {error}") from error


def check_folders(folders: Sequence[str], flag: str, kind: str) -> list[Path]:
    """Every folder exists and holds at least one photo / video (``kind``), so nothing fails after work started."""
    from . import data

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


def resume_path(args: argparse.Namespace, root: Path) -> Path | None:
    try:
        return ckpt.resolve_resume_path(root, args.resume_from_checkpoint)
    except ckpt.CheckpointError as error:
        raise TrainingInputError(str(error)) from error


def check_resume_config(
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


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """Flags that may change freely between the legs of a run; stored so the history can record their changes."""
    return {
        "max_train_steps": args.max_train_steps,
        "checkpointing_steps": args.checkpointing_steps,
        "checkpoints_total_limit": args.checkpoints_total_limit,
    }


def check_hub_args(args: argparse.Namespace) -> None:
    if args.push_to_hub and not args.hub_model_id:
        raise TrainingInputError("--push_to_hub needs --hub_model_id org/name.")
    if args.report_to == "wandb" and args.hub_token:
        raise TrainingInputError(
            "--report_to wandb together with --hub_token would expose the token in the run config; "
            "log in with `hf auth login` instead."
        )


def make_accelerator(args: argparse.Namespace, output_dir: Path, batch_sizes: Iterable[int] = ()):
    """The run's Accelerator; warns (main process) when fewer processes run than were asked for, or when the
    global ``batch_sizes`` do not split evenly over the processes."""
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
    warnings = (
        run_control.process_count_warning(accelerator.num_processes),
        run_control.uneven_batch_warning(batch_sizes, accelerator.num_processes),
    )
    for warning in warnings:
        if warning and accelerator.is_main_process:
            print(f"train_accelerate.py {args.command}: warning: {warning}", file=sys.stderr)
    return accelerator


def start_run(accelerator, output_dir: Path, command: str, resume: Path | None) -> run_control.StopSignals:
    """Claim the output folder (every process learns whether that worked), clear its checkpoints for a run that
    starts from ``resume`` (`checkpoint.tidy_checkpoints`), and turn SIGINT / SIGTERM into a stop at the next
    iteration boundary; the lock and the signal handlers are undone when the subcommand ends."""
    lock = run_control.OutputLock(output_dir, command)
    error = run_control.agree_on_error(accelerator, lock.acquire, (run_control.OutputLockedError,))
    if error:
        raise TrainingInputError(error)
    RUN_RESOURCES.callback(lock.release)
    if accelerator.is_main_process:
        ckpt.tidy_checkpoints(checkpoint_root(output_dir, command), resume)
    accelerator.wait_for_everyone()
    return RUN_RESOURCES.enter_context(run_control.StopSignals(announce=accelerator.is_local_main_process))


def report_stop(accelerator, stop: run_control.StopSignals, args: argparse.Namespace, saved: Path | None) -> int:
    """The one line a stopped run prints (main process): where it saved and how to resume; returns the exit code."""
    if accelerator.is_main_process:
        assert stop.received is not None
        resume = run_control.resume_command(args.argv, accelerator.num_processes > 1)
        cause = stop.received.name + (" (its launcher is gone)" if run_control.launcher_died() else "")
        outcome = f"saved {saved}" if saved is not None else "stopped before its first iteration, nothing new to save"
        print(
            f"train_accelerate.py {args.command}: stopped by {cause}; {outcome}; resume with: {resume}", file=sys.stderr
        )
    return stop.exit_code


def setup_logging(accelerator) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if not accelerator.is_local_main_process:
        logging.getLogger().setLevel(logging.WARNING)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def progress_bar(accelerator, total: int | None, initial: int, unit: str, desc: str):
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


def flat_hparams(values: dict[str, Any]) -> dict[str, Any]:
    """Tracker hyperparameters must be scalars: keep those, JSON-encode the rest."""
    return {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v) for k, v in values.items()}


def mean_across(accelerator, value: torch.Tensor) -> float:
    if accelerator.num_processes == 1:
        return float(value)
    return float(accelerator.reduce(value.detach().float().reshape(1), reduction="mean"))


def checkpoint_root(output_dir: Path, command: str) -> Path:
    return output_dir / "checkpoints" / command


def save_checkpoint(
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


def weights_sha256(modules: dict[str, nn.Module]) -> str:
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

    mine = weights_sha256(modules)
    return list(gather_object([mine])) if accelerator.num_processes > 1 else [mine]


def load_checkpoint(
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


def finish(accelerator, code: int = 0) -> int:
    """End trackers and return ``code``; a multi-process run leaves with os._exit(code) instead, because two gloo
    processes that return normally sometimes abort in the process-group teardown at interpreter exit."""
    accelerator.wait_for_everyone()
    accelerator.end_training()
    if accelerator.num_processes > 1:
        RUN_RESOURCES.close()  # os._exit skips the with-blocks that would release the lock
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    return code
