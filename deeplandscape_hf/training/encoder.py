"""The ``encoder`` subcommand: E learns the W+ of images a frozen G renders (official ``train_encoder.py``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch
import torch.nn.functional as F
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

ENCODER_LR = 1e-4  # official train_eval_loop default, used by configs/encoders/256_resnet.yaml
ENCODER_BATCH = 6  # official configs/encoders/256_resnet.yaml (4 for 512)
ENCODER_Z_SCALE = 3.0  # official gen_encoder_train_data.sh --z-scale 3


@releases_run_resources
def train_encoder(args: argparse.Namespace) -> int:
    """The ``encoder`` subcommand: E learns W+ of images rendered by a frozen G (official train_encoder.py)."""
    from ..networks.encoder import (
        BackboneWeightsUnavailableError,
        DeepLandscapeEncoder,
        EncoderConfig,
        default_backbone,
    )

    output_dir, accelerator, G, stop, resume = setup_supervised(args, "encoder")
    image_size = args.image_size or max(32, min(256, G.resolution))
    seed_everything(args.seed)
    try:
        config = EncoderConfig(
            backbone=args.backbone or default_backbone(G.resolution),
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
        "generator_config": json.loads(json.dumps(dataclasses.asdict(G.config))),
        "generator_sha256": weights_sha256({"generator": G}),  # the encoder is only valid for this G
        "backbone": config.backbone,
        "image_size": image_size,
        "hidden": args.hidden,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "z_scale": args.z_scale,
        "mixing_probability": args.mixing_probability,
        "image_loss_weight": args.image_loss_weight,
    }
    history = check_resume_config(resume, "encoder", task_config, options=run_options(args))
    batch = run_control.batch_per_process(args.batch_size, accelerator.num_processes)

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
        z, static, dynamic = fixed_z_and_noise(G, 4, args.seed + 777, accelerator.device)
        images = G.synthesize(G.broadcast_w(G.map(z)), static, dynamic)
        inputs = F.interpolate(images, size=(image_size, image_size), mode="bicubic", align_corners=False)
        reconstruction = G.synthesize(model(inputs).float(), static, dynamic)
        grid = torch.cat([torch.cat(list(images), dim=-1), torch.cat(list(reconstruction), dim=-1)], dim=-2)
        return write_frames(grid[None], stem.with_suffix(".png"))

    task = SupervisedTask("encoder", encoder, task_config, loss_fn, "encoder", G, sample_fn, history)
    return train_supervised(args, accelerator, task, output_dir, resume, stop)


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
