"""The ``gan`` subcommand: progressive growing from 8 px with an image and a pairwise discriminator.

Supplement section 1 and the official ``train.py``: phases counted in images, one D trained per iteration (the
pairwise probability decays 0.5 -> 0.1 over each fade-in), same-frame crops as fake pairs, style mixing, an EMA
generator for samples and the export. ``train_gan(args)`` takes the parsed ``train_accelerate.py gan`` flags.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..networks.hub import unwrap_model
from . import checkpoint as ckpt
from . import run_control
from .configs import RESUMABLE_CHANGES, GanTrainingConfig, get_config, official_batch_sizes
from .ema import make_ema, update_ema
from .export import atomic_write_text, push_to_hub, save_component, write_pipeline_json
from .gan_data import RealSampler, build_samplers, cache_has, prepare_data_cache
from .gan_step import DiscriminatorObjective, FakeRenderer, gan_iteration, make_streams, set_lr
from .run import (
    SAMPLE_FPS,
    TrainingInputError,
    check_folders,
    check_hub_args,
    check_output_dir,
    check_resume_config,
    checkpoint_root,
    finish,
    flat_hparams,
    load_checkpoint,
    make_accelerator,
    progress_bar,
    releases_run_resources,
    report_stop,
    resume_path,
    run_options,
    save_checkpoint,
    seed_everything,
    setup_logging,
    start_run,
)
from .schedule import PhaseState

logger = logging.getLogger(__name__)


ADAM_BETAS = (0.0, 0.99)  # supplement: Adam beta1 = 0, beta2 = 0.99 (G, both Ds and the mapping net)


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


def data_order(args: argparse.Namespace) -> dict[str, Any]:
    """The flags that decide which real samples the run sees, and in what order (stored in every checkpoint)."""
    return {"seed": args.seed, "video_frames_as_images": args.video_frames_as_images}


def check_same_data_order(resume: Path | None, current: dict[str, Any]) -> None:
    """Refuse to resume under flags that would change the order of the real data: the resumed run would not be the
    run continued. (Checkpoints written before these flags were stored are not checked.)"""
    saved = ckpt.read_training_state(resume).get("data_order") if resume is not None else None
    changed = [f"--{key} {saved[key]} -> {value}" for key, value in current.items() if saved and saved[key] != value]
    if changed:
        raise TrainingInputError(
            f"checkpoint '{resume}' was trained with other data flags ({'; '.join(changed)}), which would change "
            "which real samples come next and in what order. Resume with the checkpoint's flags, or start a new "
            "--output_dir."
        )


@releases_run_resources
def train_gan(args: argparse.Namespace) -> int:
    """The ``gan`` subcommand."""
    # 1. Everything that can be wrong with the inputs is checked before any work.
    config = build_gan_config(args)
    output_dir = Path(args.output_dir).expanduser()
    check_hub_args(args)
    cache_dir = Path(args.cache_dir).expanduser() if args.cache_dir else output_dir / "data_cache"
    image_dirs = check_folders(args.image_dir, "--image_dir", "images")
    video_dirs = check_folders(args.video_dir, "--video_dir", "videos")
    if not image_dirs and not video_dirs and not cache_has(cache_dir, "images") and not cache_has(cache_dir, "videos"):
        raise TrainingInputError(
            "no training data: pass --image_dir (photos for the image D) and --video_dir (videos for the pairwise "
            "D), or a --cache_dir prepared earlier."
        )
    if config.use_pairwise and not video_dirs and not cache_has(cache_dir, "videos"):
        raise TrainingInputError(
            f"config '{config.name}' trains the pairwise discriminator, which needs real videos: pass --video_dir "
            "(or use --config original, the plain StyleGAN without the pairwise D)."
        )
    root = checkpoint_root(output_dir, "gan")
    resume = resume_path(args, root)
    history = check_resume_config(resume, "gan", config.to_dict(), RESUMABLE_CHANGES, run_options(args))
    check_same_data_order(resume, data_order(args))
    check_output_dir(output_dir)  # last: the only check that creates something

    # 2. Accelerator, models, optimizers.
    from ..networks.discriminator import ImageDiscriminator, PairwiseDiscriminator
    from ..networks.generator import DeepLandscapeGenerator

    accelerator = make_accelerator(args, output_dir, config.batch_sizes.values())
    setup_logging(accelerator)
    stop = start_run(accelerator, output_dir, "gan", resume)
    device = accelerator.device
    seed_everything(args.seed)  # identical initial weights on every rank
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
    streams = make_streams(args.seed, accelerator.process_index)

    modules: dict[str, nn.Module] = {"generator": G, "generator_ema": G_ema, "discriminator_image": D_image}
    optimizers: dict[str, torch.optim.Optimizer] = {"generator": opt_g, "discriminator_image": opt_d_image}
    if D_pair is not None and opt_d_pair is not None:
        modules["discriminator_pairwise"] = D_pair
        optimizers["discriminator_pairwise"] = opt_d_pair

    # 3. Data (cache built once, by the main process).
    prepare_data_cache(accelerator, image_dirs, video_dirs, cache_dir, schedule.resolutions, config, args)

    # 4. Resume, then wrap for distributed training.
    iteration, num_images_seen = 0, 0
    data_counters = {"images": 0, "pairs": 0, "crops": 0}  # samples served per real-data stream (all ranks)
    G.to(device), G_ema.to(device), D_image.to(device)
    if D_pair is not None:
        D_pair.to(device)
    if resume is not None:
        saved = load_checkpoint(accelerator, resume, modules, optimizers, streams.as_dict())
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
        accelerator.init_trackers("deeplandscape-gan", config=flat_hparams({**config.to_dict(), "seed": args.seed}))
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

    def enter_phase(state: PhaseState) -> dict[str, RealSampler]:
        """Real-data samplers and learning rates of the phase ``state`` is in."""
        samplers = build_samplers(
            cache_dir, state.resolution, config, args.seed, data_counters, accelerator, args.video_frames_as_images
        )
        for optimizer in (opt_g, opt_d_image, opt_d_pair):
            if optimizer is not None:
                set_lr(optimizer, state.learning_rate)
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
        progress = progress_bar(accelerator, stop_images, num_images_seen, "img", "gan")
    else:
        progress = progress_bar(accelerator, stop_iterations, iteration, "it", "gan")
    start_time, start_images = time.time(), num_images_seen
    # a stop asked for while the data or the models were being prepared ends the run before it trains
    stopping, last_checkpoint = run_control.any_rank(accelerator, stop.requested), None

    # 5. The loop: one D step (image or pairwise) and one G step against that same D per iteration.
    while not finished() and not stopping:
        state = schedule.state_at(num_images_seen)
        if state.phase_index != phase_index:
            phase_index = state.phase_index
            samplers = enter_phase(state)
        per_process = run_control.batch_per_process(state.batch_size, accelerator.num_processes)
        result = gan_iteration(
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
            "options": run_options(args),
            "data_order": data_order(args),
        }
        stopping = run_control.any_rank(accelerator, stop.requested)  # every rank stops at this same iteration
        if iteration % args.checkpointing_steps == 0 or finished() or stopping:
            last_checkpoint = save_checkpoint(
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
        return finish(accelerator, report_stop(accelerator, stop, args, last_checkpoint))

    # 6. Export the hub layout: EMA generator at the root, discriminators in subfolders.
    if accelerator.is_main_process:
        final_state = schedule.state_at(max(num_images_seen - 1, 0))
        _export_gan(G_ema, D_image, D_pair, config, output_dir, final_state)
        if args.push_to_hub:
            push_to_hub(args, output_dir)
    finish(accelerator)
    return 0


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
        from ..animation.video import tile_videos, write_video
        from ..motion.noise import shift_noise
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
    """Hub layout: EMA G at the root with its mean style, the Ds under ``discriminators/``."""
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
    save_component(G_export, output_dir)
    save_component(d_image, output_dir / "discriminators" / "image")
    if d_pair is not None:
        save_component(d_pair, output_dir / "discriminators" / "pairwise")
    write_pipeline_json(output_dir, config.resolution)
    atomic_write_text(output_dir / "training_config.json", json.dumps(config.to_dict(), indent=2))
    logger.info("exported the model to %s", output_dir)
