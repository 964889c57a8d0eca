"""The ``dynamics`` subcommand: network A learns how a z_dyn change moves w, on samples of a frozen mapping net."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch
from torch import nn

from . import run_control
from .run import (
    TrainingInputError,
    check_resume_config,
    releases_run_resources,
    run_options,
    seed_everything,
    weights_sha256,
)
from .supervised import SupervisedTask, fixed_z_and_noise, setup_supervised, train_supervised, write_frames

DYNAMICS_LR = 0.01  # official configs/encoders/256_mlp.yaml
DYNAMICS_BATCH = 512  # official MLPDataset batch


@releases_run_resources
def train_dynamics(args: argparse.Namespace) -> int:
    """The ``dynamics`` subcommand: network A on (w1, z_far, t, w2) drawn from the frozen mapping net."""
    from ..networks.dynamics import (
        DynamicsConfig,
        StyleDynamicsNet,
        dynamics_loss,
        sample_dynamics_batch,
    )

    output_dir, accelerator, G, stop, resume = setup_supervised(args, "dynamics")
    if G.config.z_dynamic_dim < 1:
        raise TrainingInputError(
            "this generator has no dynamic latent (z_dynamic_dim = 0): network A has nothing "
            "to learn. Train G with a config that has z_dyn (any but original / frame_discr / "
            "two_noises)."
        )
    seed_everything(args.seed)
    try:
        model = StyleDynamicsNet(
            DynamicsConfig(w_dim=G.config.w_dim, z_dynamic_dim=G.config.z_dynamic_dim, depth=args.depth)
        )
    except ValueError as error:
        raise TrainingInputError(f"bad dynamics settings: {error}") from error
    task_config = {
        "generator_config": json.loads(json.dumps(dataclasses.asdict(G.config))),
        "generator_sha256": weights_sha256({"generator": G}),  # network A is only valid for this G
        "depth": args.depth,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
    }
    history = check_resume_config(resume, "dynamics", task_config, options=run_options(args))
    batch = run_control.batch_per_process(args.batch_size, accelerator.num_processes)

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
        z, static, dynamic = fixed_z_and_noise(G, count, args.seed + 778, accelerator.device)
        target = torch.randn(G.config.z_dynamic_dim, generator=torch.Generator().manual_seed(args.seed + 779))
        w = G.map(z)
        video = []
        for t in torch.linspace(0, 1, frames).tolist():
            moved = net(w, target.to(w.device), t)
            video.append(torch.cat(list(G.synthesize(G.broadcast_w(moved), static, dynamic)), dim=-1))
        return write_frames(torch.stack(video), stem.with_suffix(".mp4"))

    task = SupervisedTask("dynamics", model, task_config, loss_fn, "dynamics", G, sample_fn, history)
    return train_supervised(args, accelerator, task, output_dir, resume, stop)
