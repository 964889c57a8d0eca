"""Shared plumbing for the metrics: input conversion, masks, and finding pretrained weights without downloading.

Every metric works on float tensors in [0, 1] internally, because that is the range the authors' SSIM and flow code
assume and the range a mask multiplies cleanly (a masked pixel becomes black). Callers may pass uint8 arrays (0..255,
channels last as image files decode), PIL images, or float tensors in another range (``value_range=(-1, 1)`` for
generator output). Pretrained feature networks are looked up in the torch hub cache only: this project runs offline
(HF_HUB_OFFLINE=1, no internet), so a missing file must become a clear error that says which file and where to put
it, never a download attempt that hangs or a silently random network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch
import torch.nn.functional as F

ValueRange = tuple[float, float]
UNIT_RANGE: ValueRange = (0.0, 1.0)


class MissingWeightsError(FileNotFoundError):
    """Pretrained weights a metric needs are not on disk (and are never downloaded here)."""


def hub_checkpoint_path(url: str) -> Path:
    """Where ``torch.hub.load_state_dict_from_url(url)`` would cache ``url`` (honours ``TORCH_HOME`` at call time)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def require_hub_checkpoint(url: str, what: str) -> Path:
    """Return the cached file for ``url``, or raise :class:`MissingWeightsError` telling the user how to provide it.

    Checking the cache first is what keeps torchvision's weight enums from trying the network: with the file present
    ``weights.get_state_dict()`` reads it from disk.
    """
    path = hub_checkpoint_path(url)
    if not path.is_file():
        raise MissingWeightsError(
            f"{what} needs the pretrained weights file '{path.name}', which is not in the torch hub cache "
            f"({path.parent}). Nothing is downloaded here (offline). On a machine with internet, download {url} and "
            f"copy it to {path}, or set TORCH_HOME to a directory whose hub/checkpoints/ holds it."
        )
    return path


def default_device(module: torch.nn.Module | None) -> torch.device:
    """The device of ``module``'s first parameter or buffer (CPU for parameter-free modules)."""
    if module is not None:
        for tensor in (*module.parameters(), *module.buffers()):
            return tensor.device
    return torch.device("cpu")


def _as_tensor(x: Any) -> torch.Tensor:
    """PIL image / numpy array / tensor -> tensor, without changing layout or dtype (PIL becomes uint8 HWC)."""
    if isinstance(x, torch.Tensor):
        return x
    if hasattr(x, "convert") and hasattr(x, "size") and not isinstance(x, np.ndarray):  # PIL.Image
        x = np.asarray(x.convert("RGB"))
    return torch.from_numpy(np.ascontiguousarray(x))


def to_unit_images(x: Any, value_range: ValueRange = UNIT_RANGE) -> torch.Tensor:
    """Convert an image or a batch of images to float32 ``(N, 3, H, W)`` in [0, 1].

    Args:
        x: ``(3, H, W)``, ``(N, 3, H, W)``, channels-last ``(H, W, 3)`` / ``(N, H, W, 3)`` (detected when the last dim
            is 1 or 3 and the channel dim is not), a numpy array, a tensor, or a PIL image. One-channel images are
            repeated to three. uint8 inputs are always read as 0..255, whatever ``value_range`` says.
        value_range: the (low, high) range of float inputs; ``(-1, 1)`` for the generator's output.

    Values are clamped to [0, 1]: generator frames overshoot slightly, and the authors clamped when they saved the
    frames they measured.
    """
    t = _as_tensor(x)
    if t.dim() not in (3, 4):
        raise ValueError(f"expected an image (3 dims) or a batch (4 dims), got shape {tuple(t.shape)}")
    if t.shape[-1] in (1, 3) and t.shape[-3] not in (1, 3):
        t = t.movedim(-1, -3)
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.shape[1] == 1:
        t = t.expand(-1, 3, -1, -1)
    if t.shape[1] != 3:
        raise ValueError(f"expected 1 or 3 channels, got shape {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        t = t.float() / 255.0
    else:
        low, high = value_range
        t = (t.float() - low) / (high - low)
    return t.clamp(0.0, 1.0)


def to_unit_video(x: Any, value_range: ValueRange = UNIT_RANGE) -> torch.Tensor:
    """A video ``(T, 3, H, W)`` / uint8 ``(T, H, W, 3)`` / list of frames -> float32 ``(T, 3, H, W)`` in [0, 1]."""
    if isinstance(x, (list, tuple)):
        return torch.cat([to_unit_images(frame, value_range) for frame in x])
    t = _as_tensor(x)
    if t.dim() != 4:
        raise ValueError(f"a video must be (T, 3, H, W) or (T, H, W, 3), got shape {tuple(t.shape)}")
    return to_unit_images(t, value_range)


def to_mask(mask: Any, size: tuple[int, int]) -> torch.Tensor:
    """A mask ``(H, W)``, ``(1, H, W)`` or ``(B, 1, H, W)`` (bool, 0/1 float, 0/255 uint8, PIL) -> float {0, 1}.

    Returns ``(B, 1, H, W)`` with B = 1 for a single mask, resized with nearest neighbour to ``size`` when it differs
    (a segmentation often comes at another resolution than the frames; nearest keeps it binary).
    """
    t = _as_tensor(mask)
    if t.dim() == 3 and t.shape[-1] in (1, 3) and t.shape[0] not in (1,):  # PIL "RGB" or HWC mask: take one channel
        t = t[..., 0]
    if t.dtype == torch.uint8:
        t = t > 127 if t.max() > 1 else t > 0
    t = (t.float() > 0.5).float()
    if t.dim() == 2:
        t = t[None, None]
    elif t.dim() == 3:
        t = t[:, None] if t.shape[0] != 1 else t[None]
    if t.dim() != 4 or t.shape[1] != 1:
        raise ValueError(f"mask must be (H, W), (1, H, W) or (B, 1, H, W), got shape {tuple(t.shape)}")
    if tuple(t.shape[-2:]) != tuple(size):
        t = F.interpolate(t, size=size, mode="nearest")
    return t


def resize_center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``(N, C, H, W)`` so the shorter side is ``size`` (bilinear, antialiased), then center-crop ``size``².

    The authors' FID protocol (``Resize(256) + CenterCrop(256)``); also their test-image preparation.
    """
    height, width = images.shape[-2:]
    if (height, width) != (size, size):
        scale = size / min(height, width)
        new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
        if (new_h, new_w) != (height, width):
            images = F.interpolate(images, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        images = images[..., top : top + size, left : left + size]
    return images
