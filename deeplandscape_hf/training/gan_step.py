"""One GAN iteration and the modules it runs: a D step (image or pairwise) then a G step against that same D.

Official ``train.py``: a generated pair shares z_st and S_st and draws z_dyn and S_dyn per frame; the D loss is the
logistic loss plus R1 in float32; the G loss is the non-saturating loss from the discriminator that just trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..networks.hub import unwrap_model
from .configs import GanTrainingConfig
from .gan_data import RealSampler
from .losses import d_logistic_loss, g_nonsaturating_loss, r1_penalty
from .run import mean_across
from .schedule import PhaseState, choose_iteration


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


@dataclass
class Streams:
    """Random sources of a GAN run; all are checkpointed, so a resume continues every stream where it stopped."""

    decisions: torch.Generator  # same seed on every rank: which D trains, crops, mixing level
    latents: torch.Generator  # per rank: z and noise maps of fakes

    def as_dict(self) -> dict[str, torch.Generator]:
        return {"decisions": self.decisions, "latents": self.latents}


def make_streams(seed: int, rank: int) -> Streams:
    def gen(offset: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed * 1_000_003 + offset)

    return Streams(decisions=gen(1), latents=gen(1000 + rank))


@dataclass
class StepResult:
    """Detached numbers of one iteration, for logs."""

    pairwise: bool
    crops: bool
    d_loss: float
    r1: float
    g_loss: float
    real_logits: float
    fake_logits: float


def set_lr(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
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


def gan_iteration(
    accelerator,
    config: GanTrainingConfig,
    state: PhaseState,
    batch: int,
    streams: Streams,
    samplers: dict[str, RealSampler],
    renderer: FakeRenderer,
    renderer_ddp: nn.Module,
    image_objective_ddp: nn.Module,
    pair_objective_ddp: nn.Module | None,
    opt_g: torch.optim.Optimizer,
    opt_d_image: torch.optim.Optimizer,
    opt_d_pair: torch.optim.Optimizer | None,
    device: torch.device,
) -> StepResult:
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
    return StepResult(
        pairwise=pairwise,
        crops=crops,
        d_loss=mean_across(accelerator, d_out["d_loss"]),
        r1=mean_across(accelerator, d_out["r1"]),
        g_loss=mean_across(accelerator, g_loss.detach()),
        real_logits=float(d_out["real_logits"]),
        fake_logits=float(d_out["fake_logits"]),
    )
