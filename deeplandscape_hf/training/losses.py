"""GAN losses of DeepLandscape training, as pure tensor functions (official ``train.py``, ``loss_fn: 'r1'``).

Non-saturating logistic loss for D and G, and the R1 gradient penalty on real samples, applied on every D step
(no lazy regularisation), over all frames of a pair for the pairwise D. R1 is always reduced in float32: under
mixed precision the squared gradient norm of half-precision gradients loses most of its bits (and overflows in
fp16), which is exactly the term that keeps D from diverging.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

R1_GAMMA = 10.0  # supplement "Training Configuration" via the official configs: loss_fn 'r1', (10 / 2) * E||grad||^2


def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss E[softplus(-D(real))] + E[softplus(D(fake))].

    That is -log sigmoid(D(real)) - log(1 - sigmoid(D(fake))), the logistic loss of the original StyleGAN.

    Args:
        real_logits: (B, 1) logits of real samples.
        fake_logits: (B', 1) logits of generated samples (or same-frame crop pairs).

    Returns:
        scalar float32 loss.
    """
    return F.softplus(-real_logits.float()).mean() + F.softplus(fake_logits.float()).mean()


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss: E[softplus(-D(G(z)))] = -log sigmoid(D(G(z))) (non-saturating; official ``train.py``)."""
    return F.softplus(-fake_logits.float()).mean()


def r1_penalty(real_logits: torch.Tensor, real_inputs: torch.Tensor, gamma: float = R1_GAMMA) -> torch.Tensor:
    """R1 penalty L_R1 = gamma / 2 * E ||grad_x D(x)||^2 over real inputs, differentiable w.r.t. D's parameters.

    Args:
        real_logits: (B, 1) logits of ``real_inputs``; the graph must be kept (``real_inputs.requires_grad``).
        real_inputs: the real images (B, 3, H, W) or pairs (B, 2, 3, H, W) that produced ``real_logits``; the squared
            norm is summed over every non-batch dimension, so both frames of a pair count.
        gamma: R1 weight (10 in the paper).

    Returns:
        scalar float32 penalty. The gradient is taken of the float32 sum of the logits and the norm is reduced in
        float32, so the result is the same under autocast; run the real forward in float32 when training in fp16
        (the trainer does), since a half-precision backward can underflow before the cast here.
    """
    if not real_inputs.requires_grad:
        raise ValueError("r1_penalty needs real_inputs.requires_grad = True before the discriminator forward.")
    (gradient,) = torch.autograd.grad(real_logits.float().sum(), real_inputs, create_graph=True)
    squared_norm = gradient.float().square().flatten(1).sum(1)  # ||grad_x D(x)||^2 per sample
    return gamma / 2 * squared_norm.mean()
