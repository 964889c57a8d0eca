"""Real photo -> generator inputs: latent optimisation (variants E ... EOIFS, MO, I2S) and generator fine-tuning (F).

Paper section 3.3 and supplement section 2 (Algorithms 1-2); mirrors the authors' ``inference/fine_tune_pipeline.py``
(``optimize_latents``, ``fine_tune_generator``) and ``configs/inference/256/*.yaml``.
Where the supplement and the code disagree, the supplement is the default and an option reproduces the code:
early stopping (``Preset.early_stop``; ``None`` runs every iteration, as the code) and the
parity of EOIFS passes (``InversionSettings.static_pass_parity``).

Variant letters: **E**ncoder initialisation, **O**ptimise W+ and S, tie W+ to its **I**nitial value, **F**ine-tune G,
route S^st/S^dyn with a **S**egmentation mask; MO starts from the mean style; I2S is Image2StyleGAN (W+ only).
Also here: the speed/quality presets (``PRESETS``) and ``InversionCache`` (encode once, re-animate in seconds).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import nn

from ..networks.generator import DeepLandscapeGenerator
from ..networks.hub import save_safetensors

logger = logging.getLogger(__name__)

__all__ = [
    "INVERSION_MODES",
    "PRESETS",
    "VARIANTS",
    "FineTuneResult",
    "InversionCache",
    "InversionResult",
    "InversionSettings",
    "LatentOptimizer",
    "PerceptualTerm",
    "Preset",
    "VariantSpec",
    "cache_key",
    "fine_tune_generator",
    "initial_latents",
    "invert",
    "optimize_latents",
    "reconstruction_l1",
    "tensor_fingerprint",
    "variant_spec",
]

# --- Paper constants (supplement Algorithms 1-2; official configs/inference/256/*.yaml) ---------------------------
LATENT_LR = 0.1  # Adam lr for W+ and S (supp. Alg. 1 "lr = 0.1")
PERCEPTUAL_WEIGHT = 0.01  # lambda_PL (supp. Alg. 1)
NOISE_GRAD_SCALE = 1e-3  # lambda_S: dL/dS is multiplied by this after backward (supp. Alg. 1 line 11)
W_INIT_WEIGHT = 1.0  # weight of L_init = sum over W+ entries of MSE(w, w_init) (official w_init_l2_reg_coef)
LR_PATIENCE = 20  # halve the lr after this many iterations without improvement (supp. Alg. 1 line 13)
LR_FACTOR = 0.5  # official reduce_lr_factor
EARLY_STOP_PATIENCE = 100  # supp. Alg. 1 line 14; the official code uses 500 = max_iters, i.e. never
EARLY_STOP_EPS = 1e-3  # official early_stopping_eps: an improvement must exceed this
OPTIMIZATION_ITERATIONS = 500  # official max_iters
I2S_LR = 0.01  # official 07_i2s.yaml
I2S_ITERATIONS = 4000  # official 07_i2s.yaml
I2S_PERCEPTUAL_WEIGHT = 1.0  # official 07_i2s.yaml pl_coef
FINE_TUNE_LR = 1e-3  # official fine_tune_generator
FINE_TUNE_ITERATIONS = 500  # official fine_tune_generator
FINE_TUNE_PERCEPTUAL_WEIGHT = 0.1  # official: 1 * L1 + 0.1 * PL

INVERSION_MODES = ("e", "eo", "eoi", "eoif", "eoifs", "mo", "i2s")

PerceptualFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
StageCallback = Callable[[str, int, int], Any]


class ProgressBar(Protocol):
    """The part of ``tqdm`` the loops use, so any tqdm-like bar (or a silent stand-in) fits."""

    def update(self, n: int = 1) -> Any: ...

    def set_postfix(self, *args: Any, **kwargs: Any) -> Any: ...

    def close(self) -> Any: ...


ProgressFactory = Callable[[int, str], ProgressBar]


class _SilentProgress:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _silent_progress(total: int, desc: str) -> ProgressBar:
    return _SilentProgress()


# --------------------------------------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class VariantSpec:
    """What one inference variant does (supplement section 2 list; official configs 01-07)."""

    init_from_encoder: bool  # W+ from E (else the mean style w_avg for every AdaIN)
    noise_init_scale: float  # S starts at scale * N(0, 1): 0 gives zeros (official init_noise_scale)
    optimize: bool  # run latent optimisation at all (E does not)
    optimize_noise: bool  # S is optimised (I2S keeps its random S fixed)
    tie_to_init: bool  # add L_init = sum MSE(W+, W+_init) (EOI and after)
    use_mask: bool  # alternate static / dynamic passes (EOIFS, supp. Alg. 2)
    fine_tune: bool  # fine-tune every generator weight afterwards (F)


VARIANTS: dict[str, VariantSpec] = {
    "e": VariantSpec(True, 1.0, False, False, False, False, False),
    "eo": VariantSpec(True, 0.0, True, True, False, False, False),
    "eoi": VariantSpec(True, 0.0, True, True, True, False, False),
    "eoif": VariantSpec(True, 0.0, True, True, True, False, True),
    "eoifs": VariantSpec(True, 0.0, True, True, True, True, True),
    "mo": VariantSpec(False, 0.0, True, True, False, False, False),
    "i2s": VariantSpec(False, 1.0, True, False, False, False, False),
}


@dataclass(frozen=True)
class Preset:
    """One speed / quality trade-off: iteration budgets and working sizes. Values live in ``PRESETS``.

    ``paper`` is exactly the supplement's recipe; ``balanced`` and ``fast`` are ours (first guesses, to be tuned by
    measurement; ``pipeline.json`` may override any field per preset).
    """

    optimization_iterations: int  # W+/S optimisation iterations (every optimising variant except I2S)
    i2s_iterations: int  # Image2StyleGAN iterations (official 4000)
    fine_tune_iterations: int  # generator fine-tuning iterations (official 500)
    early_stop: int | None  # stop after this many iterations without improvement; None: run them all (code)
    perceptual_size: int | None  # images wider than this are area-downscaled before the perceptual net; None: as is
    render_batch_size: int  # frames synthesised together (bounds memory; batching never costs speed per frame)

    def __post_init__(self) -> None:
        for name in ("optimization_iterations", "i2s_iterations", "fine_tune_iterations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Preset.{name} must be an int >= 0, got {value!r}.")
        for name in ("early_stop", "perceptual_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"Preset.{name} must be a positive int or None, got {value!r}.")
        batch = self.render_batch_size
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"Preset.render_batch_size must be a positive int, got {self.render_batch_size!r}.")

    def replace(self, **overrides: Any) -> Preset:
        """A copy with some fields changed; unknown names are an error (so a typo in pipeline.json is caught)."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"Unknown preset field(s) {unknown}; known fields: {sorted(known)}.")
        return dataclasses.replace(self, **overrides)


# | preset   | optimisation | I2S  | fine-tune | early stop | perceptual size | render batch |
# |----------|--------------|------|-----------|------------|-----------------|--------------|
# | paper    | 500          | 4000 | 500       | 100        | full            | 8            |
# | balanced | 200          | 800  | 200       | 100        | <= 256 px       | 8            |
# | fast     | 60           | 240  | 60        | 100        | <= 128 px       | 8            |
PRESETS: dict[str, Preset] = {
    "paper": Preset(OPTIMIZATION_ITERATIONS, I2S_ITERATIONS, FINE_TUNE_ITERATIONS, EARLY_STOP_PATIENCE, None, 8),
    "balanced": Preset(200, 800, 200, EARLY_STOP_PATIENCE, 256, 8),
    "fast": Preset(60, 240, 60, EARLY_STOP_PATIENCE, 128, 8),
}

_UNSET: Any = object()


@dataclass(frozen=True)
class InversionSettings:
    """Every number one inversion run uses, flat. Build with ``from_preset`` rather than by hand.

    Defaults are the supplement's EOI/EOIF/EOIFS values (Algorithms 1-2).
    """

    num_iterations: int = OPTIMIZATION_ITERATIONS  # latent optimisation iterations
    lr: float = LATENT_LR  # Adam lr for W+ and S
    l1_weight: float = 1.0  # official reconstr_l1_coef
    perceptual_weight: float = PERCEPTUAL_WEIGHT  # lambda_PL
    w_init_weight: float = W_INIT_WEIGHT  # used only by variants that tie W+ to its start
    noise_grad_scale: float = NOISE_GRAD_SCALE  # lambda_S
    lr_patience: int | None = LR_PATIENCE  # ReduceLROnPlateau patience on L1 + PL; None: constant lr
    lr_factor: float = LR_FACTOR
    early_stop: int | None = EARLY_STOP_PATIENCE  # None: run every iteration (official code)
    early_stop_eps: float = EARLY_STOP_EPS
    static_pass_parity: int = 0  # EOIFS: iterations with iter % 2 == parity fit static regions (supp: 0; code: 1)
    w_grad_scale_static: float = 1.0  # EOIFS: W+ gradient factor in static passes (official latent_w_grad_scale_still)
    w_grad_scale_dynamic: float = 1.0  # EOIFS: ... in dynamic passes (official configs: 1; code default 0.01)
    # EOIFS: how the noise group a pass does not fit is held. "skip": its gradient is None, so Adam leaves it exactly
    # as is (supp. Alg. 2 lines 15/23 update only one of S^st, S^dyn). "zero_grad": official code, gradient x 0, so
    # Adam's momentum still moves it a little.
    frozen_noise_update: Literal["skip", "zero_grad"] = "skip"
    fine_tune_iterations: int = FINE_TUNE_ITERATIONS
    fine_tune_lr: float = FINE_TUNE_LR
    fine_tune_perceptual_weight: float = FINE_TUNE_PERCEPTUAL_WEIGHT
    perceptual_size: int | None = None  # cap on the perceptual net's input side (area downscale); None: full size

    def __post_init__(self) -> None:
        if self.static_pass_parity not in (0, 1):
            raise ValueError(
                f"static_pass_parity must be 0 (supplement) or 1 (official code), got {self.static_pass_parity!r}."
            )
        if self.frozen_noise_update not in ("skip", "zero_grad"):
            raise ValueError(f"frozen_noise_update must be 'skip' or 'zero_grad', got {self.frozen_noise_update!r}.")
        for name in ("num_iterations", "fine_tune_iterations"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
        if not self.lr > 0 or not self.fine_tune_lr > 0:
            raise ValueError(f"learning rates must be positive, got lr={self.lr}, fine_tune_lr={self.fine_tune_lr}.")

    @classmethod
    def from_preset(
        cls,
        mode: str,
        preset: str | Preset = "balanced",
        *,
        early_stop: int | None = _UNSET,
        **overrides: Any,
    ) -> InversionSettings:
        """Settings for ``mode`` under ``preset`` (a name from ``PRESETS`` or a ``Preset``).

        I2S takes its own lr, iteration count and perceptual weight (official 07_i2s.yaml) and never changes its lr
        or stops early (its official patiences equal its iteration count). EOIFS does not stop early (supp. Alg. 2 has
        no early stop, and its loss alternates between two regions). ``early_stop`` (``None`` = the official code's
        fixed iteration count) and any field given in ``overrides`` win over all of that.
        """
        spec = variant_spec(mode)
        chosen = resolve_preset(preset)
        values: dict[str, Any] = dict(
            num_iterations=chosen.optimization_iterations,
            fine_tune_iterations=chosen.fine_tune_iterations if spec.fine_tune else 0,
            early_stop=chosen.early_stop,
            perceptual_size=chosen.perceptual_size,
        )
        if mode.lower() == "i2s":
            values.update(
                num_iterations=chosen.i2s_iterations,
                lr=I2S_LR,
                perceptual_weight=I2S_PERCEPTUAL_WEIGHT,
                lr_patience=None,
                early_stop=None,
            )
        if spec.use_mask:
            values["early_stop"] = None
        if not spec.optimize:
            values["num_iterations"] = 0
        if early_stop is not _UNSET:
            values["early_stop"] = early_stop
        values.update(overrides)
        return cls(**values)


def variant_spec(mode: str) -> VariantSpec:
    """The ``VariantSpec`` of a mode name (case-insensitive), or a ValueError listing the valid names."""
    key = str(mode).lower()
    if key not in VARIANTS:
        raise ValueError(f"Unknown inversion mode {mode!r}. Choose one of: {', '.join(INVERSION_MODES)}.")
    return VARIANTS[key]


def resolve_preset(preset: str | Preset, table: dict[str, Preset] | None = None) -> Preset:
    """A ``Preset`` from its name in ``table`` (default ``PRESETS``), or the given object."""
    if isinstance(preset, Preset):
        return preset
    table = PRESETS if table is None else table
    key = str(preset).lower()
    if key not in table:
        raise ValueError(f"Unknown preset {preset!r}. Choose one of: {', '.join(table)}.")
    return table[key]


# --------------------------------------------------------------------------------------------------------- results
@dataclass
class InversionResult:
    """What inverting one photo produced: the inputs that make G (or its fine-tuned copy) redraw the photo.

    Attributes:
        w_plus: (1, num_ws, w_dim) optimised W+.
        static_noise, dynamic_noise: per level (1, 1, s, s) maps S^st and S^dyn.
        generator: the fine-tuned copy of G (variants with F), otherwise the very G that was passed in.
        fine_tuned: whether ``generator`` is a fine-tuned copy.
        losses: final values: ``encoder_l1`` / ``optimization_l1`` / ``fine_tune_l1`` (full-image L1 of the
            reconstruction after each stage that ran), ``optimization_loss`` / ``fine_tune_loss`` (last objective).
        history: per-iteration objective (L1 + PL, without the W+ tie) of each stage that ran.
        iterations: iterations each stage ran (early stopping can end optimisation sooner).
        timings: seconds per stage.
    """

    w_plus: torch.Tensor
    static_noise: list[torch.Tensor]
    dynamic_noise: list[torch.Tensor]
    generator: DeepLandscapeGenerator
    fine_tuned: bool = False
    losses: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    iterations: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class FineTuneResult:
    """A fine-tuned copy of G with its loss history (``fine_tune_generator``)."""

    generator: DeepLandscapeGenerator
    history: list[float]
    final_l1: float


# --------------------------------------------------------------------------------------------------------- losses
def _perceptual_input(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """Area-downscale images wider than ``size`` (the fast presets' smaller working size for the perceptual net)."""
    if size is None or images.shape[-1] <= size:
        return images
    return F.interpolate(images, size=(size, size), mode="area")


class PerceptualTerm:
    """mean(PL(y, x)) as the official code adds it (``pl_coef * mean(PL)``), at the preset's working size.

    The target is the same image at every iteration, so for a VGG-style loss (a module with ``relu_features``) its
    features are computed once and reused: a third less perceptual-network work per iteration, same value.
    """

    def __init__(self, perceptual: PerceptualFn | None, size: int | None = None):
        self.perceptual = perceptual
        self.size = size
        self._target_features: dict[int, tuple[torch.Tensor, list[torch.Tensor]]] = {}

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.perceptual is None:
            return prediction.new_zeros(())
        prediction = _perceptual_input(prediction, self.size)
        extract = getattr(self.perceptual, "relu_features", None)
        if extract is None:
            return self.perceptual(prediction, _perceptual_input(target, self.size)).mean()
        cached = self._target_features.get(id(target))
        if cached is None or cached[0] is not target:
            with torch.no_grad():
                cached = (target, extract(_perceptual_input(target.detach(), self.size)))
            self._target_features[id(target)] = cached
        loss = prediction.new_zeros(prediction.shape[0])
        for feature, target_feature in zip(extract(prediction), cached[1], strict=True):
            loss = loss + (feature - target_feature).abs().mean(dim=(1, 2, 3))  # VGGPerceptualLoss.forward
        return loss.mean()


@torch.no_grad()
def reconstruction_l1(
    generator: DeepLandscapeGenerator,
    target: torch.Tensor,
    w_plus: torch.Tensor,
    static_noise: Sequence[torch.Tensor],
    dynamic_noise: Sequence[torch.Tensor],
) -> float:
    """Full-image mean absolute error between G(W+, S) and the target, both in [-1, 1]."""
    return F.l1_loss(generator.synthesize(w_plus, list(static_noise), list(dynamic_noise)), target).item()


def _check_target(generator: DeepLandscapeGenerator, target: torch.Tensor) -> None:
    size = generator.resolution
    if target.dim() != 4 or tuple(target.shape[1:]) != (3, size, size) or target.shape[0] != 1:
        raise ValueError(
            f"target must be one image (1, 3, {size}, {size}) in [-1, 1] at the generator's resolution, "
            f"got {tuple(target.shape)}."
        )


# --------------------------------------------------------------------------------------------------------- optimiser
class LatentOptimizer:
    """Latent optimisation of W+ and S for one image (supplement Algorithms 1 and 2), one iteration at a time.

    Kept as a class so tests can look at the gradients of one pass (``compute_gradients``) before the update.
    G's own weights never receive gradients here (``torch.autograd.grad`` is taken w.r.t. the latents only), so the
    caller's model is neither modified nor given ``.grad`` buffers.

    Args:
        generator: G; only ``synthesize`` is used.
        target: (1, 3, R, R) image in [-1, 1] at G's resolution.
        w_init: (1, num_ws, w_dim) W+ start; also the anchor of L_init.
        static_init, dynamic_init: per level (1, 1, s, s) start of S^st / S^dyn.
        settings: numbers (``InversionSettings.from_preset``).
        spec: the variant (``VARIANTS[mode]``).
        perceptual: PL(y, x) -> per-sample or scalar loss; None for no perceptual term.
        static_mask: (1, 1, R, R) in [0, 1], 1 on static pixels (land); needed when ``spec.use_mask``.
    """

    def __init__(
        self,
        generator: DeepLandscapeGenerator,
        target: torch.Tensor,
        w_init: torch.Tensor,
        static_init: Sequence[torch.Tensor],
        dynamic_init: Sequence[torch.Tensor],
        settings: InversionSettings,
        spec: VariantSpec,
        perceptual: PerceptualFn | None = None,
        static_mask: torch.Tensor | None = None,
    ):
        _check_target(generator, target)
        if spec.use_mask:
            size = generator.resolution
            if static_mask is None or tuple(static_mask.shape) != (1, 1, size, size):
                shape = None if static_mask is None else tuple(static_mask.shape)
                raise ValueError(f"EOIFS needs a static mask of shape (1, 1, {size}, {size}), got {shape}.")
        self.generator = generator
        self.target = target.detach()
        self.settings = settings
        self.spec = spec
        self.perceptual = perceptual
        self.static_mask = None if static_mask is None else static_mask.detach().to(target)
        self.w_init = w_init.detach().clone()
        self.w_plus = nn.Parameter(w_init.detach().clone())
        make = nn.Parameter if spec.optimize_noise else (lambda t: t)
        self.static_noise: list[torch.Tensor] = [make(s.detach().clone()) for s in static_init]
        self.dynamic_noise: list[torch.Tensor] = [make(d.detach().clone()) for d in dynamic_init]
        params: list[torch.Tensor] = [self.w_plus]
        if spec.optimize_noise:
            params += [*self.static_noise, *self.dynamic_noise]
        self.params = params
        self.optimizer = torch.optim.Adam(params, lr=settings.lr)
        self.scheduler = (
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode="min", factor=settings.lr_factor, patience=settings.lr_patience
            )
            if settings.lr_patience is not None
            else None
        )
        self.best = math.inf
        self.best_iteration = 0
        self.history: list[float] = []
        self.perceptual_term = PerceptualTerm(perceptual, settings.perceptual_size)
        # Masked targets x * m and x * (1 - m) never change: build them once (and let PerceptualTerm cache them).
        self._targets = {"full": self.target}
        if self.static_mask is not None:
            self._targets["static"] = self.target * self.static_mask
            self._targets["dynamic"] = self.target * (1 - self.static_mask)

    # 1. which loss this iteration fits
    def pass_kind(self, iteration: int) -> Literal["full", "static", "dynamic"]:
        """This iteration's pass: "full" without a mask; EOIFS alternates "static" / "dynamic" (supp. Alg. 2 line 8)."""
        if not self.spec.use_mask:
            return "full"
        return "static" if iteration % 2 == self.settings.static_pass_parity else "dynamic"

    def _region(self, kind: str) -> torch.Tensor | None:
        if kind == "full":
            return None
        assert self.static_mask is not None
        return self.static_mask if kind == "static" else 1 - self.static_mask

    # 2. loss and scaled gradients
    def compute_gradients(self, iteration: int) -> dict[str, float]:
        """Render, compute L^O for this iteration's pass, and leave the scaled gradients in each latent's ``.grad``.

        Returns the loss terms as floats: ``reconstruction`` (L1 + PL, the quantity the lr schedule and early stop
        watch), ``l1``, ``perceptual``, ``w_init`` and ``total``.
        """
        settings = self.settings
        kind = self.pass_kind(iteration)
        image = self.generator.synthesize(self.w_plus, self.static_noise, self.dynamic_noise)  # y = G(W, S)
        target = self._targets[kind]
        region = self._region(kind)
        if region is not None:  # y_m = y * m, x_m = x * m (Alg. 2 lines 9-10 / 17-18); mean over the whole image
            image = image * region
        l1 = F.l1_loss(image, target)
        perceptual = self.perceptual_term(image, target)
        reconstruction = settings.l1_weight * l1 + settings.perceptual_weight * perceptual  # L^O_rec
        # L^O_init = sum over W+ entries (the official per-AdaIN keys) of MSE(w, w_init)
        w_init = (self.w_plus - self.w_init).pow(2).mean(dim=-1).sum(dim=-1).mean()
        total = reconstruction + (settings.w_init_weight * w_init if self.spec.tie_to_init else 0.0)

        grads = torch.autograd.grad(total, self.params, allow_unused=True)
        for param, grad in zip(self.params, grads):
            param.grad = torch.zeros_like(param) if grad is None else grad
        self._scale_gradients(kind)
        return {
            "reconstruction": reconstruction.item(),
            "l1": l1.item(),
            "perceptual": float(perceptual.detach()),
            "w_init": w_init.item(),
            "total": float(total.detach()) if isinstance(total, torch.Tensor) else float(total),
        }

    def _scale_gradients(self, kind: str) -> None:
        settings = self.settings
        if self.spec.optimize_noise:
            # dL/dS <- lambda_S * dL/dS (Alg. 1 line 11, Alg. 2 lines 14/22; official noise_grad_scale)
            for noise in (*self.static_noise, *self.dynamic_noise):
                noise.grad.mul_(settings.noise_grad_scale)
        if kind == "full":
            return
        # EOIFS: a static pass updates W+ and S^st only, a dynamic pass W+ and S^dyn only.
        frozen = self.dynamic_noise if kind == "static" else self.static_noise
        w_scale = settings.w_grad_scale_static if kind == "static" else settings.w_grad_scale_dynamic
        if w_scale != 1.0:
            self.w_plus.grad.mul_(w_scale)
        if self.spec.optimize_noise:
            for noise in frozen:
                if settings.frozen_noise_update == "skip":
                    noise.grad = None  # Adam skips parameters without a gradient: S stays exactly as it is
                else:
                    noise.grad.zero_()  # Official: gradient x 0

    # 3. update, lr schedule, early stop
    def step(self, iteration: int) -> dict[str, float]:
        """One full iteration: gradients, Adam update, lr schedule. Returns the loss terms (``compute_gradients``)."""
        losses = self.compute_gradients(iteration)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        value = losses["reconstruction"]
        self.history.append(value)
        if self.scheduler is not None:
            self.scheduler.step(value)  # official: the plateau is watched on L1 + PL, without the W+ tie
        if value < self.best - self.settings.early_stop_eps:
            self.best, self.best_iteration = value, iteration
        return losses

    def should_stop(self, iteration: int) -> bool:
        """True once ``early_stop`` iterations passed without an improvement larger than ``early_stop_eps``."""
        patience = self.settings.early_stop
        return patience is not None and iteration - self.best_iteration >= patience

    def latents(self) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Detached copies of (W+, S^st, S^dyn)."""
        return (
            self.w_plus.detach().clone(),
            [s.detach().clone() for s in self.static_noise],
            [d.detach().clone() for d in self.dynamic_noise],
        )


def optimize_latents(
    generator: DeepLandscapeGenerator,
    target: torch.Tensor,
    w_init: torch.Tensor,
    static_init: Sequence[torch.Tensor],
    dynamic_init: Sequence[torch.Tensor],
    settings: InversionSettings,
    spec: VariantSpec,
    *,
    perceptual: PerceptualFn | None = None,
    static_mask: torch.Tensor | None = None,
    progress: ProgressFactory | None = None,
    callback: StageCallback | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor], list[float]]:
    """Run ``settings.num_iterations`` iterations of supplement Algorithm 1 (or 2 with ``spec.use_mask``).

    Returns (W+, S^st, S^dyn, history of L1 + PL per iteration). See ``LatentOptimizer`` for the arguments.
    """
    optimizer = LatentOptimizer(
        generator, target, w_init, static_init, dynamic_init, settings, spec, perceptual, static_mask
    )
    total = settings.num_iterations
    bar = (progress or _silent_progress)(total, "Optimising latents")
    try:
        with torch.enable_grad():
            for iteration in range(total):
                losses = optimizer.step(iteration)
                bar.update(1)
                # EOIFS measures the land and the sky in turns, each over the whole frame: their sum is the photo's
                # loss, where one pass alone would make the shown value jump between the two regions' losses
                shown = sum(optimizer.history[-2:]) if spec.use_mask else losses["reconstruction"]
                bar.set_postfix(loss=f"{shown:.4f}", refresh=False)
                if callback is not None:
                    callback("optimization", iteration + 1, total)
                if optimizer.should_stop(iteration):
                    logger.info("latent optimisation stopped early after %d iterations", iteration + 1)
                    break
    finally:
        bar.close()
    w_plus, static_noise, dynamic_noise = optimizer.latents()
    return w_plus, static_noise, dynamic_noise, optimizer.history


def fine_tune_generator(
    generator: DeepLandscapeGenerator,
    target: torch.Tensor,
    w_plus: torch.Tensor,
    static_noise: Sequence[torch.Tensor],
    dynamic_noise: Sequence[torch.Tensor],
    settings: InversionSettings,
    *,
    perceptual: PerceptualFn | None = None,
    progress: ProgressFactory | None = None,
    callback: StageCallback | None = None,
) -> FineTuneResult:
    """Variant F: fine-tune EVERY weight of a deep copy of G on the photo, latents frozen.

    Adam(lr 1e-3) for ``settings.fine_tune_iterations`` iterations on L1 + 0.1 PL over the full image; no early
    stop. The passed generator is never modified. (Official: ``decoder.clone()`` reloads the checkpoint from disk for
    every image; a deep copy is the same thing without the disk.)
    """
    _check_target(generator, target)
    tuned = copy.deepcopy(generator)
    tuned.requires_grad_(True)
    tuned.train()
    parameters = [p for p in tuned.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=settings.fine_tune_lr)
    w_plus = w_plus.detach()
    static_noise = [s.detach() for s in static_noise]
    dynamic_noise = [d.detach() for d in dynamic_noise]
    target = target.detach()
    history: list[float] = []
    perceptual_term = PerceptualTerm(perceptual, settings.perceptual_size)
    total = settings.fine_tune_iterations
    bar = (progress or _silent_progress)(total, "Fine-tuning generator")
    try:
        with torch.enable_grad():
            for iteration in range(total):
                image = tuned.synthesize(w_plus, static_noise, dynamic_noise)
                l1 = F.l1_loss(image, target)
                perceptual_loss = perceptual_term(image, target)
                loss = l1 + settings.fine_tune_perceptual_weight * perceptual_loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                history.append(loss.item())
                bar.update(1)
                bar.set_postfix(loss=f"{history[-1]:.4f}", refresh=False)
                if callback is not None:
                    callback("fine_tune", iteration + 1, total)
    finally:
        bar.close()
    optimizer.zero_grad(set_to_none=True)
    tuned.requires_grad_(False)
    tuned.eval()
    final_l1 = reconstruction_l1(tuned, target, w_plus, static_noise, dynamic_noise)
    return FineTuneResult(generator=tuned, history=history, final_l1=final_l1)


# --------------------------------------------------------------------------------------------------------- driver
def initial_latents(
    generator: DeepLandscapeGenerator,
    target: torch.Tensor,
    spec: VariantSpec,
    encoder: nn.Module | None = None,
    rng: torch.Generator | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """W+ and S starting points of a variant (official steps 4-5 of ``encode_and_animate``).

    W+: E(photo) for E* variants, else the mean style for every AdaIN. S: ``noise_init_scale * N(0, 1)`` drawn from
    ``rng`` (zeros when the scale is 0).
    """
    if spec.init_from_encoder:
        if encoder is None:
            raise ValueError("This inversion mode starts from the encoder's W+, but no encoder was given.")
        # E sees the size its config names (the authors' animation: the crop at G's resolution). Resized here rather
        # than with E's resize=True, which refuses inputs under 32 px before resizing (tiny test generators).
        size = getattr(getattr(encoder, "config", None), "image_size", None)
        images = target
        if size is not None and tuple(target.shape[-2:]) != (size, size):
            images = F.interpolate(target, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
        with torch.no_grad():
            w_plus = encoder(images)
        if tuple(w_plus.shape) != (1, generator.num_ws, generator.config.w_dim):
            raise ValueError(
                f"The encoder predicts W+ of shape {tuple(w_plus.shape[1:])}, but the generator needs "
                f"({generator.num_ws}, {generator.config.w_dim}). Were they trained together?"
            )
        w_plus = w_plus.detach().to(target)
    else:
        w_plus = generator.broadcast_w(generator.w_avg[None].to(target)).clone()
    if spec.noise_init_scale == 0:
        static_noise = [target.new_zeros(1, 1, s, s) for s in generator.noise_sizes()]
        dynamic_noise = [target.new_zeros(1, 1, s, s) for s in generator.noise_sizes()]
    else:
        static_noise, dynamic_noise = generator.make_noise(1, generator=rng)
        static_noise = [spec.noise_init_scale * s.to(target) for s in static_noise]
        dynamic_noise = [spec.noise_init_scale * d.to(target) for d in dynamic_noise]
    return w_plus, static_noise, dynamic_noise


def invert(
    generator: DeepLandscapeGenerator,
    target: torch.Tensor,
    mode: str = "eoifs",
    settings: InversionSettings | None = None,
    *,
    encoder: nn.Module | None = None,
    dynamic_mask: torch.Tensor | None = None,
    perceptual: PerceptualFn | None = None,
    rng: torch.Generator | None = None,
    progress: ProgressFactory | None = None,
    callback: StageCallback | None = None,
) -> InversionResult:
    """Invert one photo with one variant: initialise, optimise latents, fine-tune G (where the variant says so).

    Args:
        generator: G (never modified; F works on a deep copy).
        target: (1, 3, R, R) in [-1, 1], the photo's crop at G's resolution.
        mode: one of ``INVERSION_MODES``.
        settings: numbers; default ``InversionSettings.from_preset(mode, "paper")``.
        encoder: E, required by the E* variants; called as ``encoder(images, resize=...) -> W+``.
        dynamic_mask: (1, 1, R, R) in [0, 1], 1 on sky/water; required by EOIFS (static mask = 1 - it).
        perceptual: PL(y, x), or None to fit L1 alone.
        rng: random source for random noise starts (E, I2S).
        progress: ``(total, desc) -> tqdm-like`` for the optimisation and fine-tuning loops.
        callback: ``callback(stage, step, total)`` after every iteration (stages "optimization", "fine_tune").
    """
    spec = variant_spec(mode)
    settings = settings or InversionSettings.from_preset(mode, "paper")
    _check_target(generator, target)
    static_mask = None
    if spec.use_mask:
        if dynamic_mask is None:
            raise ValueError("Mode 'eoifs' needs the sky/water mask (dynamic_mask) to route S^st and S^dyn.")
        static_mask = 1 - dynamic_mask.to(target)
    timings: dict[str, float] = {}
    losses: dict[str, float] = {}
    history: dict[str, list[float]] = {}
    iterations: dict[str, int] = {}

    start = time.perf_counter()
    w_plus, static_noise, dynamic_noise = initial_latents(generator, target, spec, encoder, rng)
    losses["encoder_l1"] = reconstruction_l1(generator, target, w_plus, static_noise, dynamic_noise)
    timings["encode"] = time.perf_counter() - start

    if spec.optimize and settings.num_iterations > 0:
        start = time.perf_counter()
        w_plus, static_noise, dynamic_noise, trace = optimize_latents(
            generator,
            target,
            w_plus,
            static_noise,
            dynamic_noise,
            settings,
            spec,
            perceptual=perceptual,
            static_mask=static_mask,
            progress=progress,
            callback=callback,
        )
        history["optimization"] = trace
        iterations["optimization"] = len(trace)
        losses["optimization_loss"] = trace[-1]
        losses["optimization_l1"] = reconstruction_l1(generator, target, w_plus, static_noise, dynamic_noise)
        timings["optimization"] = time.perf_counter() - start

    result_generator, fine_tuned = generator, False
    if spec.fine_tune and settings.fine_tune_iterations > 0:
        start = time.perf_counter()
        tuned = fine_tune_generator(
            generator,
            target,
            w_plus,
            static_noise,
            dynamic_noise,
            settings,
            perceptual=perceptual,
            progress=progress,
            callback=callback,
        )
        result_generator, fine_tuned = tuned.generator, True
        history["fine_tune"] = tuned.history
        iterations["fine_tune"] = len(tuned.history)
        losses["fine_tune_loss"] = tuned.history[-1]
        losses["fine_tune_l1"] = tuned.final_l1
        timings["fine_tune"] = time.perf_counter() - start

    return InversionResult(
        w_plus=w_plus,
        static_noise=static_noise,
        dynamic_noise=dynamic_noise,
        generator=result_generator,
        fine_tuned=fine_tuned,
        losses=losses,
        history=history,
        iterations=iterations,
        timings=timings,
    )


# --------------------------------------------------------------------------------------------------------- cache
CACHE_FORMAT_VERSION = 1  # bump when the stored layout changes; older files are then ignored (and pruned in time)
CACHE_FILE_PATTERN = re.compile(r"[0-9a-f]{32}\.safetensors")  # `cache_key` names: the only files the pruning touches
DISK_CACHE_BYTES = 4 * 1024**3  # an on-disk inversion cache keeps its most recently used entries within this size


def cache_key(**parts: Any) -> str:
    """A stable hex key from JSON-plain parts (image hash, mask hash, mode, settings, seed, model fingerprint...)."""
    text = json.dumps({"version": CACHE_FORMAT_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def tensor_fingerprint(tensors: Sequence[torch.Tensor] | dict[str, torch.Tensor]) -> str:
    """sha256 over the bytes of tensors (names included for dicts): identifies a model's weights or a mask."""
    digest = hashlib.sha256()
    items = sorted(tensors.items()) if isinstance(tensors, dict) else enumerate(tensors)
    for name, tensor in items:
        array = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(array.shape)}:{array.dtype}".encode())
        digest.update(array.reshape(-1).view(torch.uint8).numpy().tobytes() if array.numel() else b"")
    return digest.hexdigest()[:32]


class InversionCache:
    """Encode once, re-animate in seconds: inversions by key, in memory (LRU) and optionally on disk.

    An entry is W+, both noise pyramids and, for variants with F, the fine-tuned generator's weights; re-animating
    the same photo with another style, motion, length or speed needs nothing else. Disk entries are one
    ``<key>.safetensors`` file each (tensors plus JSON metadata), written atomically (temporary file + rename), so a
    crash never leaves a half-written entry that a later run would trust.

    Args:
        max_entries: entries kept in memory (each may hold a full generator copy: ~105 MB at 256 px).
        directory: folder for the disk cache; None keeps everything in memory.
        max_disk_bytes: the disk cache keeps its most recently used entries within this size (a busy app would
            otherwise fill its disk); None: no limit.
    """

    def __init__(
        self,
        max_entries: int = 2,
        directory: str | os.PathLike | None = None,
        max_disk_bytes: int | None = DISK_CACHE_BYTES,
    ):
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}.")
        self.max_entries = max_entries
        self.directory = None if directory is None else Path(directory).expanduser()
        self.max_disk_bytes = max_disk_bytes
        self._entries: OrderedDict[str, InversionResult] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget the in-memory entries (disk files stay; delete the folder to drop them)."""
        self._entries.clear()

    def get(self, key: str, base_generator: DeepLandscapeGenerator) -> InversionResult | None:
        """The entry for ``key`` (memory first, then disk), or None. ``base_generator`` rebuilds fine-tuned copies."""
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        if self.directory is None:
            return None
        path = self.directory / f"{key}.safetensors"
        if not path.is_file():
            return None
        try:
            result = self._load(path, base_generator)
        except Exception as error:  # noqa: BLE001 - a damaged cache file is only a cache miss
            logger.warning("ignoring unreadable inversion cache file %s: %s", path, error)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: the pruning keeps the most recently used entries
        self._remember(key, result)
        return result

    def put(self, key: str, result: InversionResult) -> None:
        """Store an entry in memory and, with a directory, on disk (then prune the disk to ``max_disk_bytes``)."""
        self._remember(key, result)
        if self.directory is not None:
            path = self.directory / f"{key}.safetensors"
            try:
                self._save(path, result)
                self._prune(keep=path)
            except Exception as error:  # noqa: BLE001 - safetensors reports a full or read-only disk as its own error
                logger.warning("could not write the inversion cache in %s: %s", self.directory, error)

    def _prune(self, keep: Path) -> None:
        """Delete the least recently used entries beyond ``max_disk_bytes`` (never ``keep``, never other files)."""
        if self.max_disk_bytes is None or self.directory is None:
            return
        entries = []
        for path in self.directory.glob("*.safetensors"):
            if CACHE_FILE_PATTERN.fullmatch(path.name):
                with contextlib.suppress(OSError):
                    stat = path.stat()
                    entries.append((stat.st_mtime, stat.st_size, path))
        total = 0
        for _, size, path in sorted(entries, key=lambda entry: entry[0], reverse=True):  # newest first
            total += size
            if total > self.max_disk_bytes and path != keep:
                logger.info("removing the least recently used inversion cache file %s", path)
                with contextlib.suppress(OSError):
                    path.unlink()

    def _remember(self, key: str, result: InversionResult) -> None:
        if self.max_entries == 0:
            return
        self._entries[key] = result
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    @staticmethod
    def _save(path: Path, result: InversionResult) -> None:
        tensors = {"w_plus": result.w_plus}
        tensors.update({f"static_noise.{i}": s for i, s in enumerate(result.static_noise)})
        tensors.update({f"dynamic_noise.{i}": d for i, d in enumerate(result.dynamic_noise)})
        if result.fine_tuned:
            tensors.update({f"generator.{k}": v for k, v in result.generator.state_dict().items()})
        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        metadata = {
            "format_version": str(CACHE_FORMAT_VERSION),
            "fine_tuned": json.dumps(result.fine_tuned),
            "levels": str(len(result.static_noise)),
            "losses": json.dumps(result.losses),
            "iterations": json.dumps(result.iterations),
            "timings": json.dumps(result.timings),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            save_safetensors(tensors, temporary, metadata)  # readable by whoever shares the folder, as a model is
            os.replace(temporary, path)
        finally:
            if temporary.exists():
                temporary.unlink()

    @staticmethod
    def _load(path: Path, base_generator: DeepLandscapeGenerator) -> InversionResult:
        device = base_generator.device
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format_version") != str(CACHE_FORMAT_VERSION):
                raise ValueError(f"cache format {metadata.get('format_version')!r} is not {CACHE_FORMAT_VERSION}")
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 - safe_open API
        levels = int(metadata["levels"])
        fine_tuned = bool(json.loads(metadata["fine_tuned"]))
        generator = base_generator
        if fine_tuned:
            prefix = "generator."
            state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            generator = copy.deepcopy(base_generator)
            generator.load_state_dict(state, strict=True)
            generator.requires_grad_(False).eval()
        return InversionResult(
            w_plus=tensors["w_plus"].to(device),
            static_noise=[tensors[f"static_noise.{i}"].to(device) for i in range(levels)],
            dynamic_noise=[tensors[f"dynamic_noise.{i}"].to(device) for i in range(levels)],
            generator=generator,
            fine_tuned=fine_tuned,
            losses=json.loads(metadata.get("losses", "{}")),
            iterations=json.loads(metadata.get("iterations", "{}")),
            timings=json.loads(metadata.get("timings", "{}")),
        )
