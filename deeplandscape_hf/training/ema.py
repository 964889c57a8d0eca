"""Exponential moving average of the generator (official ``utils.accumulate(g_running, G, 0.999)``).

Samples and exported models use the EMA copy. As in the authors' code only parameters are averaged; buffers (such as
the generator's ``w_avg`` and blur kernels) are copied, since averaging a statistic that the training copy already
tracks would only lag it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

EMA_DECAY = 0.999  # supplement "Training Configuration": "accumulated exponential moving average with alpha = 0.999"


def make_ema(model: nn.Module) -> nn.Module:
    """A frozen, eval-mode deep copy of ``model`` to average into."""
    ema = copy.deepcopy(model)
    ema.eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float = EMA_DECAY) -> None:
    """ema <- decay * ema + (1 - decay) * model on parameters; buffers copied.

    Both modules must have the same parameter names (pass the unwrapped model, not a DDP wrapper).
    """
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must be in [0, 1], got {decay}.")
    ema_params = dict(ema.named_parameters())
    for name, param in model.named_parameters():
        target = ema_params[name]
        target.lerp_(param.detach().to(target.dtype), 1.0 - decay)  # ema + (1 - decay) (param - ema)
    ema_buffers = dict(ema.named_buffers())
    for name, buffer in model.named_buffers():
        ema_buffers[name].copy_(buffer)
