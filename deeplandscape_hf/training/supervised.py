"""The loop the encoder and network A share: batches drawn on the fly from a frozen G, Adam, gradient clipping,
checkpoints, trackers, and the export into a subfolder of the model next to that generator."""

from __future__ import annotations

import argparse
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..networks.hub import CONFIG_NAME, WEIGHTS_NAME
from . import run_control
from .export import push_to_hub, save_component, write_pipeline_json
from .run import (
    SAMPLE_FPS,
    TrainingInputError,
    check_hub_args,
    check_output_dir,
    checkpoint_root,
    finish,
    flat_hparams,
    load_checkpoint,
    make_accelerator,
    mean_across,
    progress_bar,
    report_stop,
    resume_path,
    run_options,
    save_checkpoint,
    setup_logging,
    start_run,
)

logger = logging.getLogger(__name__)


MAX_GRAD_NORM = 10.0  # official grad-clip 10 for E and A


def _load_generator(path: str, device: torch.device) -> nn.Module:
    from ..networks.generator import DeepLandscapeGenerator
    from ..networks.hub import ModelNotFoundError

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
        save_component(generator, folder)
        write_pipeline_json(folder, generator.resolution)
    logger.info("added the generator from %s to %s", generator_path, folder)


@dataclass
class SupervisedTask:
    """What differs between the encoder and the dynamics trainers; the loop around them is shared."""

    command: str
    model: nn.Module
    config: dict[str, Any]  # stored in checkpoints; a resume under another one is refused
    loss_fn: Callable[[nn.Module, torch.Generator, torch.device], dict[str, torch.Tensor]]
    subfolder: str
    generator: nn.Module  # the frozen G the samples are drawn from
    sample_fn: Callable[[nn.Module, Path], Path | None] | None = None  # writes one sample file for an iteration
    history: list[dict[str, Any]] = field(default_factory=list)  # changes made at earlier resumes


def train_supervised(
    args: argparse.Namespace,
    accelerator,
    task: SupervisedTask,
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
    root = checkpoint_root(output_dir, task.command)
    iteration = 0
    if resume is not None:
        saved = load_checkpoint(accelerator, resume, {task.command: model}, {task.command: optimizer}, generators)
        iteration = int(saved["iteration"])
    model_ddp, optimizer = accelerator.prepare(model, optimizer)
    if accelerator.is_main_process:
        accelerator.init_trackers(
            f"deeplandscape-{task.command}", config=flat_hparams({**task.config, "seed": args.seed})
        )
    progress = progress_bar(accelerator, args.max_train_steps, iteration, "it", task.command)
    logger.info("***** Running %s training: %s *****", task.command, task.config)
    # a stop asked for while the data or the models were being prepared ends the run before it trains
    stopping, last_checkpoint = run_control.any_rank(accelerator, stop.requested), None
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
            logs = {f"loss/{k}": mean_across(accelerator, v.detach()) for k, v in out.items()}
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
            last_checkpoint = save_checkpoint(
                accelerator,
                root,
                iteration,
                task.command,
                task.config,
                {"iteration": iteration, "history": task.history, "options": run_options(args)},
                {task.command: model},
                {task.command: optimizer},
                generators,
                args.checkpoints_total_limit,
            )
    progress.close()
    if stopping and iteration < args.max_train_steps:
        return finish(accelerator, report_stop(accelerator, stop, args, last_checkpoint))
    if accelerator.is_main_process:
        _ensure_generator_in(output_dir, args.generator, task.generator)
        save_component(model, output_dir / task.subfolder)
        logger.info("exported %s to %s", task.command, output_dir / task.subfolder)
        if args.push_to_hub:
            push_to_hub(args, output_dir)
    finish(accelerator)
    return 0


def setup_supervised(
    args: argparse.Namespace, command: str
) -> tuple[Path, Any, nn.Module, run_control.StopSignals, Path | None]:
    """Shared first steps of encoder / dynamics: validate, make the accelerator, claim the folder, load the frozen G.

    Returns the output folder, the accelerator, G, the stop signals and the checkpoint to resume from (or None)."""
    if args.generator and not Path(args.generator).expanduser().exists() and args.generator.count("/") != 1:
        raise TrainingInputError(f"--generator '{args.generator}' does not exist.")
    output_dir = Path(args.output_dir).expanduser()
    resume = resume_path(args, checkpoint_root(output_dir, command))
    check_hub_args(args)
    if args.max_train_steps is None or args.max_train_steps < 1:
        raise TrainingInputError(f"--max_train_steps must be >= 1, got {args.max_train_steps}.")
    if args.batch_size < 1:
        raise TrainingInputError(f"--batch_size must be >= 1, got {args.batch_size}.")
    check_output_dir(output_dir)
    accelerator = make_accelerator(args, output_dir, [args.batch_size])
    setup_logging(accelerator)
    stop = start_run(accelerator, output_dir, command, resume)
    G = _load_generator(args.generator, accelerator.device)
    return output_dir, accelerator, G, stop, resume


def write_frames(frames: torch.Tensor, path: Path) -> Path | None:
    """Frames (T, 3, H, W) in [-1, 1] to ``path`` (mp4 or png), upscaled to >= 64 px; never raises."""
    try:
        from ..animation.video import write_video

        frames = frames.detach().float().clamp(-1, 1).cpu()
        scale = max(1, 64 // frames.shape[-1])
        if scale > 1:
            frames = F.interpolate(frames, scale_factor=scale, mode="nearest")
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_video(frames, path, fps=SAMPLE_FPS)
    except Exception as error:  # noqa: BLE001 - samples are a convenience; never stop a long run for them
        logger.warning("could not write sample %s: %s", path, error)
        return None


def fixed_z_and_noise(G: nn.Module, count: int, seed: int, device: torch.device):  # noqa: N803
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(count, G.config.z_dim, generator=generator).to(device)
    static, dynamic = G.make_noise(count, generator=generator)
    return z, [n.to(device) for n in static], [n.to(device) for n in dynamic]
