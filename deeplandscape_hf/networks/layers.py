"""Small building blocks of the StyleGAN-1 networks DeepLandscape uses.

Equalized learning rate: weights are stored N(0, 1) and multiplied at run time by sqrt(2 / fan_in), so that Adam sees
every layer at the same scale. Biases are not scaled. Arithmetic follows the authors' code exactly (their released
weights must reproduce their frames), including the fused up/down-sampling kernels and fan_in = C for noise weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def check_shape(tensor: torch.Tensor, expected: Sequence[int | None], name: str) -> None:
    """Raise ``ValueError`` unless ``tensor`` has ``len(expected)`` dims matching every non-None size."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}.")
    pattern = "(" + ", ".join("*" if s is None else str(s) for s in expected) + ")"
    if tensor.dim() != len(expected) or any(s is not None and s != t for s, t in zip(expected, tensor.shape)):
        raise ValueError(f"{name} must have shape {pattern}, got {tuple(tensor.shape)}.")


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """channels_last for an NHWC 4-d tensor, else the default layout (NCHW, or any tensor that is both)."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


class DerivedWeightCache:
    """A tensor derived from a parameter (a scaled or fused kernel), rebuilt only when the parameter changes.

    Building a fused 4x4 kernel from a 512 x 512 x 3 x 3 weight costs tens of milliseconds, as much as the convolution
    itself at 8-32 px, so rendering builds it once per weight version, laid out like the activations it convolves
    (NCHW or NHWC: one entry each), so that the convolution does not re-layout it on every call either. An entry is
    keyed on the parameter's storage address, in-place version counter (bumped by every optimizer step,
    ``load_state_dict`` and ``copy_``), dtype, device and shape, and it keeps a detached alias of the parameter alive
    so that the address cannot be reused by another tensor: a changed weight always gets a fresh kernel. While
    autograd records through the parameter (training, fine-tuning) nothing is cached: the kernel must then be part of
    the graph.
    """

    def __init__(self) -> None:
        self._entries: dict[torch.memory_format, tuple[torch.Tensor, tuple, torch.Tensor]] = {}

    @staticmethod
    def _key(parameter: torch.Tensor) -> tuple:
        return (parameter.data_ptr(), parameter._version, parameter.dtype, parameter.device, parameter.shape)

    def get(
        self,
        parameter: torch.Tensor,
        build: Callable[[torch.Tensor], torch.Tensor],
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> torch.Tensor:
        """``build(parameter)`` in ``memory_format``, the layout of the activations it will convolve."""
        if torch.is_grad_enabled() and parameter.requires_grad:
            return build(parameter)
        entry, key = self._entries.get(memory_format), self._key(parameter)
        if entry is not None and entry[1] == key:
            return entry[2]
        # A normal tensor even under inference_mode, so that a later call with autograd on (inputs that need
        # gradients, frozen weights) can save it for backward.
        with torch.inference_mode(False), torch.no_grad():
            value = build(parameter).contiguous(memory_format=memory_format)
        self._entries[memory_format] = (parameter.detach(), key, value)  # one assignment: old or new, never half
        return value

    def clear(self) -> None:
        self._entries = {}


class PixelNorm(nn.Module):
    """Normalise each vector to unit root-mean-square over channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate: y = x (W sqrt(2/in))^T + b."""

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.scale = math.sqrt(2.0 / in_features)
        self._scaled = DerivedWeightCache()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self._scaled.get(self.weight, lambda weight: weight * self.scale)
        if torch.is_autocast_enabled(x.device.type):
            # Styles stay in full precision under bf16 autocast: they scale whole feature maps, and their bf16
            # rounding alone cost 4 dB of frame PSNR on a small test generator, for a negligible share of the work.
            with torch.autocast(x.device.type, enabled=False):
                return F.linear(x.to(weight.dtype), weight, self.bias)
        return F.linear(x, weight, self.bias)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}"


class EqualConv2d(nn.Module):
    """Conv2d with equalized learning rate, fan_in = in_channels * k * k."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = math.sqrt(2.0 / (in_channels * kernel_size * kernel_size))
        self.padding = padding
        self._scaled = DerivedWeightCache()

    def scaled_weight(self, memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
        return self._scaled.get(self.weight, lambda weight: weight * self.scale, memory_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.scaled_weight(memory_format_of(x)), self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        out_channels, in_channels, k, _ = self.weight.shape
        return f"{in_channels}, {out_channels}, kernel_size={k}, padding={self.padding}"


def _box_filtered_kernel(weight: torch.Tensor) -> torch.Tensor:
    """3x3 kernel -> 4x4: zero-pad to 5x5 and average the four one-pixel shifts (the authors' fused resampling)."""
    weight = F.pad(weight, [1, 1, 1, 1])
    return (weight[:, :, 1:, 1:] + weight[:, :, :-1, 1:] + weight[:, :, 1:, :-1] + weight[:, :, :-1, :-1]) / 4


class FusedUpsample(nn.Module):
    """2x upsampling fused with a 3x3 conv as one transposed conv. Weight layout (in, out, 3, 3) as the authors'."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_channels, out_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = math.sqrt(2.0 / (in_channels * kernel_size * kernel_size))
        self._kernel = DerivedWeightCache()

    def _fused_kernel(self, weight: torch.Tensor) -> torch.Tensor:
        return _box_filtered_kernel(weight * self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self._kernel.get(self.weight, self._fused_kernel, memory_format_of(x))
        return F.conv_transpose2d(x, kernel, self.bias, stride=2, padding=1)


class NearestUpsampleConv2d(nn.Module):
    """Nearest 2x upsampling followed by a 3x3 equalized conv (the authors' Upsample + EqualConv2d).

    Two ways to compute the same numbers (up to float rounding), chosen by ``transposed``:

    - one stride-2 transposed conv whose 4x4 kernel sums the four one-pixel shifts of the 3x3 kernel: 2.25x fewer
      multiply-adds and no upsampled copy;
    - upsample by repetition, then the 3x3 conv: the direct route, which can win on tiny maps where the transposed
      conv's scatter overhead dominates (the generator's per-size plans say which runs where).

    Both derived kernels are cached per weight version (`DerivedWeightCache`). The parameter keeps the plain conv
    layout (out, in, 3, 3) of the authors' EqualConv2d.
    """

    def __init__(self, in_channels: int, out_channels: int, transposed: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = math.sqrt(2.0 / (in_channels * 9))
        self.transposed = transposed
        self._scaled = DerivedWeightCache()
        self._fused = DerivedWeightCache()

    def _fused_kernel(self, weight: torch.Tensor) -> torch.Tensor:
        kernel = 4 * _box_filtered_kernel(weight * self.scale)  # sum, not mean, of the four shifts
        return kernel.transpose(0, 1).flip([2, 3])  # conv layout -> transposed-conv layout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transposed:
            kernel = self._fused.get(self.weight, self._fused_kernel, memory_format_of(x))
            return F.conv_transpose2d(x, kernel, self.bias, stride=2, padding=1)
        upsampled = F.interpolate(x, scale_factor=2, mode="nearest")
        weight = self._scaled.get(self.weight, lambda weight: weight * self.scale, memory_format_of(upsampled))
        return F.conv2d(upsampled, weight, self.bias, 1, 1)

    def extra_repr(self) -> str:
        out_channels, in_channels, _, _ = self.weight.shape
        return f"{in_channels}, {out_channels}, transposed={self.transposed}"


class FusedDownsample(nn.Module):
    """3x3 conv fused with 2x downsampling as one strided conv. Weight layout (out, in, 3, 3)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = math.sqrt(2.0 / (in_channels * kernel_size * kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = _box_filtered_kernel(self.weight * self.scale)
        return F.conv2d(x, kernel, self.bias, stride=2, padding=1)


class Blur(nn.Module):
    """Fixed depthwise [1,2,1] x [1,2,1] / 16 low-pass filter (padding 1). The kernel is not saved: it never changes."""

    def __init__(self, channels: int):
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(taps, taps) / 16
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).clone(), persistent=False)
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.kernel.to(x.dtype), padding=1, groups=self.channels)


class NoiseInjection(nn.Module):
    """Adds a single-channel noise map scaled per channel. The weight starts at zero, so noise is learned in."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.scale = math.sqrt(2.0 / channels)  # the authors' equal-lr hook: fan_in = C for (1, C, 1, 1)

    def forward(self, x: torch.Tensor, noise: torch.Tensor, in_place: bool = False) -> torch.Tensor:
        """x + w * noise; ``in_place`` overwrites ``x`` (only for a tensor the caller owns, outside autograd)."""
        weight = self.weight * self.scale
        return x.addcmul_(weight, noise) if in_place else torch.addcmul(x, weight, noise)


class AdaIN(nn.Module):
    """Adaptive instance norm: normalise each channel, then scale and shift by an affine map of the style w."""

    def __init__(self, channels: int, w_dim: int):
        super().__init__()
        bias_init = torch.cat([torch.ones(channels), torch.zeros(channels)])  # identity-like start: gamma 1, beta 0
        self.style = EqualLinear(w_dim, 2 * channels)
        with torch.no_grad():
            self.style.bias.copy_(bias_init)
        self.eps = 1e-5  # as nn.InstanceNorm2d

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.style(w).chunk(2, dim=1)  # (B, C) each, fp32 also under bf16 autocast
        if x.shape[0] == 1 or x.is_contiguous():
            return self._batch_norm(x, gamma, beta)
        if x.device.type == "cpu":
            # An NHWC batch cannot be viewed as one sample without a copy; each of its samples can.
            return torch.cat([self._batch_norm(x[i : i + 1], gamma[i : i + 1], beta[i : i + 1]) for i in range(len(x))])
        # GPU, NHWC batch: one fused reduction beats a kernel launch per sample.
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
        scale = gamma[:, :, None, None] * torch.rsqrt(var + self.eps)
        return torch.addcmul(beta[:, :, None, None] - mean * scale, x, scale)

    def _batch_norm(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        # Instance norm is batch norm over a batch of one whose channels are the (sample, channel) pairs, with gamma
        # and beta as its per-channel affine. ATen's CPU batch-norm kernel takes the statistics in two vectorised
        # passes (as exact as var_mean, in >= fp32) and applies the affine in the same call: several times faster
        # than var_mean, a single-threaded Welford pass, followed by a separate affine pass.
        batch, channels, height, width = x.shape
        out = F.batch_norm(
            x.reshape(1, batch * channels, height, width),
            None,
            None,
            gamma.reshape(-1),
            beta.reshape(-1),
            training=True,
            eps=self.eps,
        )
        return out if batch == 1 else out.view(x.shape)  # (a view of a 1-batch would lose its NHWC strides)


class ConstantInput(nn.Module):
    """The learned 4x4 tensor the synthesis network starts from."""

    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch_size: int) -> torch.Tensor:
        return self.input.expand(batch_size, -1, -1, -1).clone()  # a fresh tensor: the block may work in place


class MinibatchStdDev(nn.Module):
    """Appends one channel: the standard deviation over the batch, averaged to a single scalar (one group)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = torch.sqrt(x.var(dim=0, unbiased=False) + 1e-8).mean()
        return torch.cat([x, std.expand(x.shape[0], 1, x.shape[2], x.shape[3])], dim=1)
