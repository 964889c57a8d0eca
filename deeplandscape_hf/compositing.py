"""Output at the photo's own resolution: animated sky/water from the generator, every other pixel from the photo.

Beyond the paper (DESIGN section 6). The authors' frames are pure generator output at 256/512 px (reference section
5.1 step 8); only their separate super-resolution step reused the photo. Here the generator runs on the centre square
crop it was inverted on, its frames are upscaled to that crop's size in the photo, and blended in through the
feathered movable mask. Consequences, by design:

* Static pixels (mask 0) are the photo's own pixels, bit for bit (when no style change is asked for): the soft
  edge of the mask lies inside the movable region.
* Sky outside the crop box (the sides of a wide photo, top/bottom of a tall one) does not move: the generator never
  saw it. The mask is faded out over ``feather_px`` inside box edges that cut through the image, so there is no
  hard seam, but motion stops there. Use a square photo (or crop it first) to animate the whole sky.
* A time-of-day style changes the whole scene, land included. Land keeps the photo's detail and receives the
  generator's low-frequency colour change (frame minus reconstruction, blurred); outside the crop box that change is
  continued from the box's nearest edge.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .images import CropBox
from .segmentation import erode, feather

__all__ = ["Compositor", "crop_mask", "output_size"]

STYLE_BLUR_FRACTION = 1 / 16  # sigma of the style-change blur, as a fraction of the generator resolution
STATIC_WEIGHT_MIN = 0.999  # pixels of the crop that count as static when measuring a style change for the land


def output_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """(W, H) of the output: the photo's size, scaled down (aspect kept) so the longer side is at most ``max_side``."""
    width, height = size
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def crop_mask(mask: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """The part of a full-photo mask (H, W) under ``box``, resampled (bilinear) to ``size`` x ``size``.

    The same region the generator sees, at its resolution: PIL's ``resize(box=...)`` takes the float box, so the mask
    lines up with the crop to a fraction of a pixel.
    """
    image = Image.fromarray(np.ascontiguousarray(mask, dtype=np.float32))
    resized = image.resize((size, size), Image.Resampling.BILINEAR, box=(box.left, box.top, box.right, box.bottom))
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    return kernel / kernel.sum()


def _blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) with replicated borders."""
    if sigma <= 0:
        return images
    kernel = _gaussian_kernel(sigma).to(images)
    channels = images.shape[1]
    radius = kernel.numel() // 2
    horizontal = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    vertical = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    padded = F.pad(images, (radius, radius, 0, 0), mode="replicate")
    images = F.conv2d(padded, horizontal, groups=channels)
    padded = F.pad(images, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(padded, vertical, groups=channels)


class Compositor:
    """Blends generator frames of the crop into the photo (see the module docstring for what and why).

    Args:
        photo: the original RGB photo.
        box: the crop the generator saw, in the photo's pixel coordinates (``official_resize_and_crop``).
        dynamic_mask: (H, W) float in [0, 1] at the photo's size, 1 = animated.
        feather_px: width of the soft mask edge, in output pixels, inside the movable region.
        max_side: longest side of the output (the photo is downscaled to it first); None keeps the photo's size.
        static_weight: (R, R) in [0, 1], 1 on static pixels of the generator's crop: where a style change is
            measured for the land (see ``_style_change``); None measures it everywhere.
    """

    def __init__(
        self,
        photo: Image.Image,
        box: CropBox,
        dynamic_mask: np.ndarray,
        feather_px: float = 8.0,
        max_side: int | None = None,
        static_weight: torch.Tensor | None = None,
    ):
        original_size = photo.size
        width, height = output_size(photo.size, max_side)
        mask = np.clip(np.asarray(dynamic_mask, dtype=np.float32), 0.0, 1.0)
        if mask.shape != (original_size[1], original_size[0]):
            raise ValueError(f"dynamic_mask must be (H, W) = {original_size[::-1]}, got {mask.shape}.")
        if (width, height) != original_size:
            photo = photo.resize((width, height), Image.Resampling.LANCZOS)
            mask = np.asarray(
                Image.fromarray(np.ascontiguousarray(mask)).resize((width, height), Image.Resampling.BILINEAR)
            )
        self.size = (width, height)
        self.feather_px = float(feather_px)
        self.static_weight = (
            None
            if static_weight is None
            else static_weight.detach().float().cpu().reshape(1, 1, *static_weight.shape[-2:])
        )
        rgb = np.asarray(photo.convert("RGB"), dtype=np.uint8)
        self.photo_uint8 = torch.from_numpy(rgb.copy()).permute(2, 0, 1).contiguous()  # (3, H, W)
        self.photo = self.photo_uint8.float()  # the same, as exact float integers 0..255

        # 1. The crop box on the output canvas (box coordinates are in the original photo's pixels).
        scale_x, scale_y = width / original_size[0], height / original_size[1]
        left = max(0, min(width - 1, round(box.left * scale_x)))
        top = max(0, min(height - 1, round(box.top * scale_y)))
        right = max(left + 1, min(width, round(box.right * scale_x)))
        bottom = max(top + 1, min(height, round(box.bottom * scale_y)))
        self.paste_box = (left, top, right, bottom)

        # 2. Blending weight: feathered movable mask, zero outside the box, faded at box edges inside the image.
        # The soft edge lies inside the movable region (erode, then feather, capped by the mask), so no land pixel
        # takes any of the generator's moving sky: land next to the sky does not shimmer.
        alpha = (
            np.minimum(feather(erode(mask, self.feather_px), self.feather_px), mask) if self.feather_px > 0 else mask
        )
        window = np.zeros((height, width), dtype=np.float32)
        window[top:bottom, left:right] = self._box_ramp(self.paste_box)
        self.alpha = torch.from_numpy(np.clip(np.asarray(alpha, dtype=np.float32), 0, 1) * window)[None]  # (1, H, W)

    def _box_ramp(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """1 inside the box, falling to 0 over ``feather_px`` at box edges that lie inside the image (no seam)."""
        width, height = self.size
        left, top, right, bottom = box
        box_w, box_h = right - left, bottom - top
        ramp_len = max(1.0, self.feather_px)
        xs = np.arange(box_w, dtype=np.float32) + 0.5
        ys = np.arange(box_h, dtype=np.float32) + 0.5
        ramp_x = np.ones(box_w, dtype=np.float32)
        ramp_y = np.ones(box_h, dtype=np.float32)
        if left > 0:
            ramp_x = np.minimum(ramp_x, np.clip(xs / ramp_len, 0, 1))
        if right < width:
            ramp_x = np.minimum(ramp_x, np.clip((box_w - xs) / ramp_len, 0, 1))
        if top > 0:
            ramp_y = np.minimum(ramp_y, np.clip(ys / ramp_len, 0, 1))
        if bottom < height:
            ramp_y = np.minimum(ramp_y, np.clip((box_h - ys) / ramp_len, 0, 1))
        return ramp_y[:, None] * ramp_x[None, :]

    def _to_box(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, R, R) in [-1, 1] -> (N, 3, box_h, box_w) in 0..255 (bicubic, antialiased when shrinking)."""
        left, top, right, bottom = self.paste_box
        resized = F.interpolate(
            images.float(), size=(bottom - top, right - left), mode="bicubic", align_corners=False, antialias=True
        )
        return (resized.clamp(-1, 1) + 1) * 127.5

    def _style_change(self, frames: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        """Blurred (frame - reconstruction) over the whole canvas, (N, 3, H, W) in 0..255 units.

        Inside the box it is the generator's own change; outside, the box's edge values continue outward (the
        sampling grid is clamped to the box), which suits a time-of-day change: it is mostly a global grade. The blur
        is a normalised convolution over static pixels only (when there are any), so the moving sky's texture does
        not leak into the land next to it.
        """
        resolution = frames.shape[-1]
        sigma = resolution * STYLE_BLUR_FRACTION
        difference = frames.float() - reconstruction.float()
        weight = self.static_weight
        if weight is not None and weight.shape[-1] == resolution and bool((weight >= STATIC_WEIGHT_MIN).any()):
            static = (weight >= STATIC_WEIGHT_MIN).float()  # surely-static pixels only: soft edges carry sky
            numerator = _blur(difference * static, sigma)
            denominator = _blur(static, sigma)
            plain = _blur(difference, sigma)
            difference = torch.where(denominator > 1e-4, numerator / denominator.clamp_min(1e-4), plain)
        else:
            difference = _blur(difference, sigma)
        difference = difference * 127.5
        width, height = self.size
        left, top, right, bottom = self.paste_box
        xs = (torch.arange(width, dtype=torch.float32) + 0.5 - left) / (right - left) * 2 - 1
        ys = (torch.arange(height, dtype=torch.float32) + 0.5 - top) / (bottom - top) * 2 - 1
        grid_y, grid_x = torch.meshgrid(ys.clamp(-1, 1), xs.clamp(-1, 1), indexing="ij")
        grid = torch.stack([grid_x, grid_y], dim=-1)[None].expand(frames.shape[0], -1, -1, -1)
        return F.grid_sample(
            difference, grid.to(difference), mode="bilinear", padding_mode="border", align_corners=False
        )

    @torch.no_grad()
    def __call__(self, frames: torch.Tensor, reconstruction: torch.Tensor | None = None) -> np.ndarray:
        """Composite generator frames (N, 3, R, R) in [-1, 1] -> uint8 (N, H, W, 3) at the output size.

        ``reconstruction`` (1, 3, R, R): pass it when the style changes over the video, so land follows the change.
        """
        frames = frames.detach().cpu()
        count = frames.shape[0]
        left, top, right, bottom = self.paste_box
        generated = self._to_box(frames)  # (N, 3, h, w) in 0..255
        alpha = self.alpha[:, top:bottom, left:right][None]  # (1, 1, h, w)
        if reconstruction is None:
            # Only the box is blended; the rest is the photo's bytes (uint8 copies keep memory low at full size).
            out = self.photo_uint8[None].repeat(count, 1, 1, 1)
            region = self.photo[None, :, top:bottom, left:right]
            blended = region + alpha * (generated - region)
            out[:, :, top:bottom, left:right] = blended.round().clamp(0, 255).to(torch.uint8)
        else:
            base = (self.photo[None] + self._style_change(frames, reconstruction.detach().cpu())).clamp(0, 255)
            region = base[:, :, top:bottom, left:right]
            base[:, :, top:bottom, left:right] = region + alpha * (generated - region)
            out = base.round().clamp(0, 255).to(torch.uint8)
        return out.permute(0, 2, 3, 1).contiguous().numpy()
