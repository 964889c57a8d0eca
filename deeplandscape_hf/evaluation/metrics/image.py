"""Per-image similarity: SSIM (the authors' protocol), its masked variant, and LPIPS (VGG) via the ``lpips`` package.

SSIM follows the pytorch-ssim code the authors used (official ``inference/metrics/ssim.py``): an 11-tap Gaussian window
with sigma 1.5 applied per channel with zero padding ("same" output size), C1 = 0.01², C2 = 0.03² for inputs in
[0, 1], and the mean of the SSIM map. Written here from the SSIM formula (Wang et al. 2004), with the Gaussian applied
as two separable 1-D passes, which equals the 2-D window including at the zero-padded border.

LPIPS: the authors' wrapper expected [-1, 1] but their callers passed [0, 1] images (a known bug in the official
``calc_metrics_video.py``), so their absolute LPIPS numbers are not those of standard LPIPS. Here every input is mapped
to [-1, 1] before the network, as LPIPS was trained. Masked LPIPS is LPIPS(x * mask, y * mask) like the official code,
where masking happens in [0, 1] space (masked pixels are black).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ._common import UNIT_RANGE, MissingWeightsError, ValueRange, require_hub_checkpoint, to_mask, to_unit_images

SSIM_WINDOW_SIZE = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2

# An LPIPS function takes two (N, 3, H, W) batches in [0, 1] and returns the (N,) distances.
LPIPSFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def gaussian_window(size: int = SSIM_WINDOW_SIZE, sigma: float = SSIM_SIGMA, dtype: torch.dtype = torch.float32):
    """Normalised 1-D Gaussian taps (length ``size``, centred): the separable factor of SSIM's 2-D window."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    taps = torch.exp(-(coords**2) / (2 * sigma**2))
    return (taps / taps.sum()).to(dtype)


def _gaussian_blur(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Depthwise Gaussian filter with zero padding and same-size output, as two 1-D convolutions."""
    channels, pad = x.shape[1], taps.numel() // 2
    horizontal = taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1).to(x)
    vertical = taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1).to(x)
    x = F.conv2d(x, horizontal, padding=(0, pad), groups=channels)
    return F.conv2d(x, vertical, padding=(pad, 0), groups=channels)


def ssim_map(
    a: torch.Tensor,
    b: torch.Tensor,
    window_size: int = SSIM_WINDOW_SIZE,
    sigma: float = SSIM_SIGMA,
    c1: float = SSIM_C1,
    c2: float = SSIM_C2,
) -> torch.Tensor:
    """Per-pixel, per-channel SSIM of two float ``(N, C, H, W)`` batches already in [0, 1]; returns ``(N, C, H, W)``.

    SSIM = (2 mu_a mu_b + C1)(2 sigma_ab + C2) / ((mu_a² + mu_b² + C1)(sigma_a² + sigma_b² + C2)), with local
    moments taken under the Gaussian window.
    """
    if a.shape != b.shape:
        raise ValueError(f"SSIM needs equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    taps = gaussian_window(window_size, sigma)
    mu_a, mu_b = _gaussian_blur(a, taps), _gaussian_blur(b, taps)
    var_a = _gaussian_blur(a * a, taps) - mu_a**2
    var_b = _gaussian_blur(b * b, taps) - mu_b**2
    cov_ab = _gaussian_blur(a * b, taps) - mu_a * mu_b
    luminance = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
    structure = (2 * cov_ab + c2) / (var_a + var_b + c2)
    return luminance * structure


def ssim(
    a: Any,
    b: Any,
    *,
    value_range: ValueRange = UNIT_RANGE,
    reduction: Literal["mean", "none"] = "mean",
) -> torch.Tensor:
    """SSIM with the authors' protocol (window 11, sigma 1.5, C1 = 0.01², C2 = 0.03², mean over the map).

    Args:
        a, b: images or batches (see :func:`to_unit_images`: tensors, arrays, PIL, uint8 or float).
        value_range: range of float inputs; pass ``(-1, 1)`` for generator output. They are mapped to [0, 1] first,
            because C1 and C2 assume a dynamic range of 1.
        reduction: ``"mean"`` gives a scalar over the batch; ``"none"`` one value per image, shape ``(N,)``.
    """
    ua, ub = to_unit_images(a, value_range), to_unit_images(b, value_range)
    per_image = ssim_map(ua, ub).mean(dim=(1, 2, 3))
    return per_image.mean() if reduction == "mean" else per_image


def masked_ssim(
    a: Any,
    b: Any,
    mask: Any,
    *,
    value_range: ValueRange = UNIT_RANGE,
    reduction: Literal["mean", "none"] = "mean",
    average: Literal["mask", "image"] = "mask",
) -> torch.Tensor:
    """SSIM restricted to ``mask`` (e.g. the static land region when checking that land stays put).

    Both images are multiplied by the mask first (as the official code does), so pixels outside the mask cannot leak
    into the window statistics of pixels inside it; then the SSIM map (averaged over channels) is averaged over the mask
    pixels only. Pixels outside the mask therefore have no influence at all.

    Args:
        mask: ``(H, W)`` or ``(B, 1, H, W)``; non-zero / True = pixels to compare. Resized (nearest) to the images.
        average: ``"mask"`` (default) averages over mask pixels. ``"image"`` reproduces the official number, which
            averages over the whole image: there the zeroed pixels score SSIM = 1 and inflate the value toward 1 as
            the mask shrinks.

    Returns a scalar (``reduction="mean"``) or ``(N,)``; NaN for an image whose mask is empty.
    """
    ua, ub = to_unit_images(a, value_range), to_unit_images(b, value_range)
    m = to_mask(mask, tuple(ua.shape[-2:]))
    if m.shape[0] not in (1, ua.shape[0]):
        raise ValueError(f"mask batch {m.shape[0]} does not match image batch {ua.shape[0]}")
    per_pixel = ssim_map(ua * m, ub * m).mean(dim=1, keepdim=True)
    if average == "image":
        per_image = per_pixel.mean(dim=(1, 2, 3))
    else:
        weight = m.expand_as(per_pixel)
        per_image = (per_pixel * weight).sum(dim=(1, 2, 3)) / weight.sum(dim=(1, 2, 3))  # 0/0 = NaN for empty masks
    return per_image.mean() if reduction == "mean" else per_image


# --------------------------------------------------------------------------------------------------------------- LPIPS


def _lpips_backbone_url(net: str) -> str:
    """URL (hence cache file name) of the torchvision ImageNet backbone ``lpips.LPIPS(net=...)`` loads."""
    from torchvision.models import AlexNet_Weights, SqueezeNet1_1_Weights, VGG16_Weights

    urls = {
        "vgg": VGG16_Weights.IMAGENET1K_V1.url,
        "alex": AlexNet_Weights.IMAGENET1K_V1.url,
        "squeeze": SqueezeNet1_1_Weights.IMAGENET1K_V1.url,
    }
    if net not in urls:
        raise ValueError(f"LPIPS net must be one of {sorted(urls)}, got {net!r}")
    return urls[net]


class LPIPSMetric(nn.Module):
    """LPIPS as a metric: inputs in [0, 1] (or ``value_range``), mapped to [-1, 1] for the network; returns ``(N,)``.

    Wraps an ``lpips.LPIPS``-like module (``net(x, y)`` with x, y in [-1, 1] returning ``(N, 1, 1, 1)``); build the
    real one with :func:`load_lpips`.
    """

    def __init__(self, net: nn.Module, name: str = "lpips"):
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.name = name

    @torch.no_grad()
    def forward(self, a: Any, b: Any, value_range: ValueRange = UNIT_RANGE) -> torch.Tensor:
        ua, ub = to_unit_images(a, value_range), to_unit_images(b, value_range)
        device = next(iter(self.net.parameters()), torch.empty(0)).device
        distance = self.net(ua.to(device) * 2 - 1, ub.to(device) * 2 - 1)
        return distance.reshape(distance.shape[0], -1).mean(dim=1).cpu()


def load_lpips(net: str = "vgg", device: str | torch.device = "cpu") -> LPIPSMetric:
    """The real LPIPS v0.1 (``lpips`` package) with the authors' backbone, VGG16 by default.

    Needs the torchvision ImageNet backbone in the torch hub cache (``vgg16-397923af.pth`` for VGG) and the linear
    layers shipped inside the ``lpips`` package. Raises :class:`MissingWeightsError` naming the missing file (nothing is
    downloaded) and ``ImportError`` when ``lpips`` is not installed (``pip install deeplandscape-hf[metrics]``).
    """
    return _load_lpips_cached(net, str(device))


@functools.lru_cache(maxsize=4)
def _load_lpips_cached(net: str, device: str) -> LPIPSMetric:
    """Load once per (net, device): evaluate_animation is called per video and VGG16 takes seconds to build."""
    require_hub_checkpoint(_lpips_backbone_url(net), f"LPIPS ({net})")
    try:
        import lpips
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("LPIPS needs the 'lpips' package: pip install 'deeplandscape-hf[metrics]'") from error
    linear = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    if not linear.is_file():
        raise MissingWeightsError(f"LPIPS linear-layer weights '{linear}' are missing: reinstall the 'lpips' package.")
    with warnings.catch_warnings():  # lpips builds torchvision nets with the deprecated `pretrained=True`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, version="0.1", verbose=False)
    return LPIPSMetric(model.to(device), name=f"lpips-{net}")


def masked_lpips(a: Any, b: Any, mask: Any, lpips_fn: LPIPSFn, *, value_range: ValueRange = UNIT_RANGE) -> torch.Tensor:
    """LPIPS(a * mask, b * mask) per image, ``(N,)``, as the official static-consistency metric.

    The mask multiplies the [0, 1] images (outside = black) before ``lpips_fn``, which receives [0, 1] inputs.
    """
    ua, ub = to_unit_images(a, value_range), to_unit_images(b, value_range)
    m = to_mask(mask, tuple(ua.shape[-2:]))
    return lpips_fn(ua * m, ub * m)
