"""Network A: how a style w changes when its dynamic latent z_dyn moves toward a target (paper section 3.3, "Style").

Mirrors the authors' ``inference/encoders.MLPApproximator`` and ``inference/mlp_approximation.py``: a residual MLP on
``[w, z_dyn target, t]`` that predicts the new w. It lets a real photo's inverted W+ (which has no z) change time of
day: the pipeline moves W+ toward named z_dyn targets ("warm_sunset", ...) with strength t.
Also here: the training batch sampler and loss of network A, pure functions the training script calls.

Official -> ours, for the converter: ``impl.{i}.impl.0`` -> ``blocks.{i}.fc1``, ``impl.{i}.impl.3`` ->
``blocks.{i}.fc2``, ``out`` -> ``out`` (the LayerNorm has no parameters).
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .hub import HUB_METADATA, HubModelMixin

LRELU_SLOPE = 0.2  # official DenseResBlock
# Official configs/encoders/256_mlp.yaml criterion_kwargs: abs_l1_coef, rel_l1_coef, rel_cos_coef.
ABS_L1_WEIGHT = 10.0
REL_L1_WEIGHT = 10.0
REL_COS_WEIGHT = 1.0


@dataclass
class DynamicsConfig:
    """Sizes of network A. Its input ``[w, z_target, t]`` has w_dim + z_dynamic_dim + 1 = 516 values (official dz 4)."""

    w_dim: int = 512  # style vector size
    z_dynamic_dim: int = 3  # last coordinates of z, driving lighting / time of day (official dyn_style_coordinates)
    depth: int = 10  # residual blocks (official configs/encoders/256_mlp.yaml; the class default of 8 is unused)

    def __post_init__(self) -> None:
        for name in ("w_dim", "z_dynamic_dim", "depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")

    @property
    def input_dim(self) -> int:
        """Width of ``[w, z_target, t]`` and of every residual block."""
        return self.w_dim + self.z_dynamic_dim + 1


class _DenseResBlock(nn.Module):
    """x + fc2(LReLU(LayerNorm(fc1(x)))): plain nn.Linear and a LayerNorm without affine, as the authors'."""

    def __init__(self, width: int):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.fc2 = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(F.leaky_relu(self.norm(self.fc1(x)), LRELU_SLOPE))


def _is_prefix(shape: tuple[int, ...], of: tuple[int, ...]) -> bool:
    return len(shape) <= len(of) and tuple(shape) == tuple(of[: len(shape)])


def _per_sample(value: torch.Tensor, batch_shape: tuple[int, ...], width: int, name: str) -> torch.Tensor:
    """Expand a (..., width) condition over ``batch_shape``; its leading dims must be a prefix of ``batch_shape``.

    So a target (3,) applies to everything, (B, 3) to every level of sample b, (B, L, 3) per entry.
    """
    if value.dim() == 0 or value.shape[-1] != width or not _is_prefix(value.shape[:-1], batch_shape):
        raise ValueError(
            f"{name} must have shape (..., {width}) with leading dims a prefix of the batch dims {batch_shape}, "
            f"got {tuple(value.shape)}."
        )
    missing = len(batch_shape) - (value.dim() - 1)
    value = value.reshape(*value.shape[:-1], *([1] * missing), width)
    return value.expand(*batch_shape, width)


class StyleDynamicsNet(nn.Module, HubModelMixin, **HUB_METADATA):
    """Network A: predicts w' = A(w, z_target, t), the style after moving z_dyn a fraction t toward z_target.

    Trained so that for w1 = M([z_st, z1]) and z2 = sqrt(1-t) z1 + sqrt(t) z_target, A(w1, z_target, t) ~ M([z_st, z2]).

    Args:
        config: ``DynamicsConfig``; default ``DynamicsConfig()``.
    """

    def __init__(self, config: DynamicsConfig | None = None):
        super().__init__()
        self.config = config = config or DynamicsConfig()
        self.blocks = nn.ModuleList(_DenseResBlock(config.input_dim) for _ in range(config.depth))
        self.out = nn.Linear(config.input_dim, config.w_dim)

    def forward(self, w: torch.Tensor, z_target: torch.Tensor, strength: torch.Tensor | float) -> torch.Tensor:
        """Move styles toward a dynamic-latent target.

        Args:
            w: (N, w_dim) styles, or (B, L, w_dim) W+ (every entry moved on its own).
            z_target: (z_dynamic_dim,) or any leading prefix of w's batch dims + (z_dynamic_dim,), e.g. (N, 3) or
                (B, 3) for W+ (one target per sample, shared by its levels).
            strength: t, how far toward the target (the authors use 0.7 at 256 px, 0.3 at 512 px): a float, or a
                tensor (N,), (N, 1), (B,), (B, L), ...; leading dims a prefix of w's batch dims. Not clamped.

        Returns:
            w' with w's shape.
        """
        if not isinstance(w, torch.Tensor) or w.dim() < 2 or w.shape[-1] != self.config.w_dim:
            shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise ValueError(f"w must have shape (N, {self.config.w_dim}) or (B, L, {self.config.w_dim}), got {shape}.")
        batch_shape = tuple(w.shape[:-1])
        if not isinstance(z_target, torch.Tensor):
            raise ValueError(f"z_target must be a torch.Tensor, got {type(z_target).__name__}.")
        z = _per_sample(z_target.to(w), batch_shape, self.config.z_dynamic_dim, "z_target")
        t = torch.as_tensor(strength).to(w)
        if t.dim() > 0 and _is_prefix(t.shape, batch_shape) and t.shape[-1:] != (1,):
            t = t.unsqueeze(-1)  # (N,) or (B, L): one t per entry
        t = _per_sample(t.reshape(1) if t.dim() == 0 else t, batch_shape, 1, "strength")
        x = torch.cat([w, z, t], dim=-1).reshape(-1, self.config.input_dim)  # official order [w, z, t]
        for block in self.blocks:
            x = block(x)
        return self.out(x).reshape(w.shape)


def dynamics_loss(pred_w2: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """Loss of network A (official ``MLPApproximateLoss`` with the 256_mlp.yaml weights). Scalar.

    L = 10 * L1(w2_hat, w2) + 10 * L1(w2_hat - w1, w2 - w1) + mean(1 - cos(w2_hat - w1, w2 - w1)):
    absolute error, error of the predicted change, and its direction (which is what moves the look).

    Args:
        pred_w2: (N, w_dim) predicted styles; w1: (N, w_dim) starting styles; w2: (N, w_dim) true target styles.
    """
    if not pred_w2.shape == w1.shape == w2.shape:
        raise ValueError(
            f"pred_w2, w1 and w2 must have one shape, got {tuple(pred_w2.shape)}, {tuple(w1.shape)}, {tuple(w2.shape)}."
        )
    abs_l1 = F.l1_loss(pred_w2, w2)
    pred_delta = pred_w2 - w1
    true_delta = w2 - w1
    rel_l1 = F.l1_loss(pred_delta, true_delta)
    rel_cos = (1 - F.cosine_similarity(pred_delta, true_delta, dim=-1)).mean()
    return ABS_L1_WEIGHT * abs_l1 + REL_L1_WEIGHT * rel_l1 + REL_COS_WEIGHT * rel_cos


@torch.no_grad()
def sample_dynamics_batch(
    mapping: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    z_dim: int = 512,
    z_dynamic_dim: int = 3,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training batch for network A, made on the fly with the frozen mapping network (official ``MLPDataset``).

    z_st ~ N(0, 1)^(z_dim - z_dynamic_dim) and z1, z_far ~ N(0, 1)^z_dynamic_dim per sample; one t ~ U(0, 1) for the
    whole batch; z2 = sqrt(1 - t) z1 + sqrt(t) z_far (stays N(0, 1)); w1 = M([z_st, z1]), w2 = M([z_st, z2]).
    No truncation. Draws in the authors' order (z1, z_far, t, z_st).

    Args:
        mapping: z (N, z_dim) -> w (N, w_dim), e.g. the generator's mapping network (run without gradients).
        batch_size: samples N (official 512).
        z_dim: size of z (official 512); its last ``z_dynamic_dim`` coordinates are z_dyn.
        z_dynamic_dim: size of z_dyn (official 3).
        generator: random source; ``device`` defaults to its device.

    Returns:
        (w1 (N, w_dim), z_far (N, z_dynamic_dim), t (N,) all equal, w2 (N, w_dim)): inputs and target of
        ``StyleDynamicsNet.forward(w1, z_far, t)`` and ``dynamics_loss``.
    """
    if batch_size < 1 or not 0 < z_dynamic_dim < z_dim:
        raise ValueError(
            f"need batch_size >= 1 and 0 < z_dynamic_dim < z_dim, got {batch_size}, {z_dynamic_dim}, {z_dim}."
        )
    if device is None:
        device = generator.device if generator is not None else torch.device("cpu")
    z1 = torch.randn(batch_size, z_dynamic_dim, generator=generator, device=device)
    z_far = torch.randn(batch_size, z_dynamic_dim, generator=generator, device=device)
    t = torch.rand(1, generator=generator, device=device)
    z_static = torch.randn(batch_size, z_dim - z_dynamic_dim, generator=generator, device=device)
    z2 = (1 - t).sqrt() * z1 + t.sqrt() * z_far
    z = torch.cat([torch.cat([z_static, z1], dim=1), torch.cat([z_static, z2], dim=1)], dim=0)  # (2N, z_dim)
    w1, w2 = mapping(z).chunk(2, dim=0)  # one pass, as the authors: same batch statistics for both halves
    return w1, z_far, t.expand(batch_size).clone(), w2
