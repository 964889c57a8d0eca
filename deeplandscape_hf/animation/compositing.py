"""Output at the photo's own resolution: the photo's sky and water moved, the generator's light carried over.

Beyond the paper. Two motion sources (``MOTION_SOURCES``):

* ``"hybrid"`` (default): the photo's own sky and water texture is advected over the whole frame along the flow
  field of the motion (``photo_motion.PhotoFlow``), at full resolution, inside the feathered movable mask; the
  generator contributes what a warp cannot (change of light, slow evolution of the clouds) through a smooth local
  colour transform fitted between its frame and its own reconstruction moved by the same motion
  (``colour_transfer``). Visible motion therefore does not depend on how well a small generator learnt to move
  clouds, the whole sky moves (not only the generator's centre square), and nothing shows where that square ends.
* ``"generator"``: the paper's output, the generator's frames of its crop, upscaled into the crop box and blended
  through the mask (sky outside the box does not move). ``evaluate inversion`` uses it so reconstruction and motion
  numbers stay comparable with the paper's.

In both, static pixels (mask 0) are the photo's own pixels, bit for bit, when no style change is asked for (the soft
edge of the mask lies inside the movable region). A time-of-day style relights the whole photo, land included,
through the colour transform, continued smoothly beyond the crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..motion.homographies import FrameRecipe, Homographies, warp_by_recipe
from .colour_transfer import ColourTransform, fit_colour_transform
from .images import CropBox
from .photo_motion import CropFrame, PhotoFlow
from .segmentation import erode, feather

__all__ = ["MOTION_SOURCES", "Compositor", "HybridMotion", "crop_mask", "output_size"]

MOTION_SOURCES = ("hybrid", "generator")
STATIC_WEIGHT_MIN = 0.999  # pixels of the crop that count as static when measuring a style change for the land
TRANSFORM_SMOOTHING_FRACTION = 1 / 16  # the colour transform is smoothed over this fraction of the crop's side


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


class Compositor:
    """Puts animated sky and water into the photo at the output size (see the module docstring for what and why).

    Args:
        photo: the original RGB photo.
        box: the crop the generator saw, in the photo's pixel coordinates (``official_resize_and_crop``).
        dynamic_mask: (H, W) float in [0, 1] at the photo's size, 1 = animated.
        feather_px: width of the soft mask edge, in output pixels, inside the movable region.
        max_side: longest side of the output (the photo is downscaled to it first); None keeps the photo's size.
        static_weight: (R, R) in [0, 1], 1 on static pixels of the generator's crop: where the ``"generator"``
            source measures a change of light (its moving sky would otherwise count as one); None: everywhere.
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
        self.mask = torch.from_numpy(np.array(mask, dtype=np.float32))  # (H, W) at the output size, a writable copy
        self.static_weight = (
            None
            if static_weight is None
            else static_weight.detach().float().cpu().reshape(1, 1, *static_weight.shape[-2:])
        )
        rgb = np.asarray(photo.convert("RGB"), dtype=np.uint8)
        self.photo_uint8 = torch.from_numpy(rgb.copy()).permute(2, 0, 1).contiguous()  # (3, H, W)
        self.photo = self.photo_uint8.float()  # the same, as exact float integers 0..255

        # 1. The crop on the output canvas (box coordinates are in the original photo's pixels).
        scale_x, scale_y = width / original_size[0], height / original_size[1]
        self.crop = CropFrame(box.left * scale_x, box.top * scale_y, (box.right - box.left) * scale_x)
        left = max(0, min(width - 1, round(box.left * scale_x)))
        top = max(0, min(height - 1, round(box.top * scale_y)))
        right = max(left + 1, min(width, round(box.right * scale_x)))
        bottom = max(top + 1, min(height, round(box.bottom * scale_y)))
        self.paste_box = (left, top, right, bottom)

        # 2. Blending weight: the feathered movable mask. Its soft edge lies inside the movable region (erode, then
        # feather, capped by the mask), so no land pixel takes any moving sky: land next to the sky does not shimmer.
        alpha = (
            np.minimum(feather(erode(mask, self.feather_px), self.feather_px), mask) if self.feather_px > 0 else mask
        )
        self.movable_alpha = torch.from_numpy(np.clip(np.asarray(alpha, dtype=np.float32), 0, 1))[None]  # (1, H, W)
        # The rows that hold any moving pixel: the hybrid source works on this band only.
        moving_rows = torch.nonzero(self.movable_alpha[0].amax(dim=1) > 0).flatten()
        self.moving_rows = slice(int(moving_rows[0]), int(moving_rows[-1]) + 1) if len(moving_rows) else slice(0, 0)
        # The generator source only has pixels inside the box: fade out at box edges that cut through the image.
        window = np.zeros((height, width), dtype=np.float32)
        window[top:bottom, left:right] = self._box_ramp(self.paste_box)
        self.alpha = self.movable_alpha * torch.from_numpy(window)[None]

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

    def hybrid_motion(
        self, homographies: Homographies, horizon: float, recipe: FrameRecipe, movable_crop: torch.Tensor
    ) -> HybridMotion:
        """The ``"hybrid"`` source for one video: the motion's flow field over this canvas, with sky and water
        plates cut from the photo (none when nothing moves: a mask thinner than the feathering erodes away), and the
        generator's crop mask."""
        flow = None
        if self.moving_rows.stop > self.moving_rows.start:
            height = self.size[1]
            split = int(np.clip(round(self.crop.top + horizon * self.crop.side), 0, height))
            above = (torch.arange(height) < split).float()[:, None]
            flow = PhotoFlow(
                self.photo / 255.0,
                self.mask * above,
                self.mask * (1 - above),
                self.crop,
                homographies,
                horizon,
                rows=self.moving_rows,
            )
        return HybridMotion(self, homographies, horizon, recipe, movable_crop.detach().cpu().float(), flow)

    @torch.no_grad()
    def composite_hybrid(
        self, advected: torch.Tensor | None, transform: ColourTransform | None = None, relight_land: bool = False
    ) -> np.ndarray:
        """Moved plates -> uint8 (t, H, W, 3): moved sky/water in the mask, the photo elsewhere.

        ``advected``: (t, 3, h, W) in [0, 1] for the rows ``moving_rows`` (``PhotoFlow(rows=...)``), or None when
        nothing moves. ``transform`` (t frames, fitted at the generator's resolution) recolours the movable region,
        or the whole frame when ``relight_land`` (a style change). Rows outside the band, and every pixel outside
        the mask without relighting, are the photo's own bytes.
        """
        count = len(transform) if advected is None else advected.shape[0]
        out = self.photo_uint8[None].repeat(count, 1, 1, 1)
        rows = slice(0, self.size[1]) if relight_land else self.moving_rows
        if rows.stop <= rows.start:
            return out.permute(0, 2, 3, 1).contiguous().numpy()
        photo = self.photo[:, rows] / 255.0
        alpha = self.movable_alpha[:, rows]
        band = self.moving_rows
        for index in range(count):
            frame = photo.clone()
            if advected is not None and band.stop > band.start:
                inside = slice(band.start - rows.start, band.stop - rows.start)
                frame[:, inside] += alpha[:, inside] * (advected[index] - frame[:, inside])
            if transform is not None:
                single = ColourTransform(transform.gain[index : index + 1], transform.offset[index : index + 1])
                on_canvas = single.on_canvas(self.crop, self.size, self.crop.side * TRANSFORM_SMOOTHING_FRACTION, rows)
                relit = on_canvas.apply(frame[None])[0]
                frame = relit if relight_land else frame + alpha * (relit - frame)
            # Where alpha is 0 (and no relighting) this rounds the photo's own values back to its exact bytes.
            out[index, :, rows] = (frame * 255).round_().clamp_(0, 255).to(torch.uint8)
        return out.permute(0, 2, 3, 1).contiguous().numpy()

    def _to_box(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, R, R) in [-1, 1] -> (N, 3, box_h, box_w) in 0..255 (bicubic, antialiased when shrinking)."""
        left, top, right, bottom = self.paste_box
        resized = F.interpolate(
            images.float(), size=(bottom - top, right - left), mode="bicubic", align_corners=False, antialias=True
        )
        return (resized.clamp(-1, 1) + 1) * 127.5

    def _light_change(self, frames: torch.Tensor, reconstruction: torch.Tensor) -> ColourTransform:
        """The generator source's change of light, measured on surely-static pixels (its sky moves)."""
        weight = self.static_weight
        resolution = frames.shape[-1]
        if weight is not None and weight.shape[-1] == resolution and bool((weight >= STATIC_WEIGHT_MIN).any()):
            static = (weight >= STATIC_WEIGHT_MIN).float()[0, 0]
        else:
            static = None
        return fit_colour_transform(reconstruction, frames, weight=static)

    @torch.no_grad()
    def __call__(self, frames: torch.Tensor, reconstruction: torch.Tensor | None = None) -> np.ndarray:
        """The ``"generator"`` source: frames (N, 3, R, R) in [-1, 1] pasted into the box -> uint8 (N, H, W, 3).

        ``reconstruction`` (1, 3, R, R): pass it when the style changes over the video, so the land is relit too.
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
            return out.permute(0, 2, 3, 1).contiguous().numpy()
        transform = self._light_change(frames, reconstruction.detach().cpu())
        out = torch.empty((count, *self.photo_uint8.shape), dtype=torch.uint8)
        for index in range(count):
            single = ColourTransform(transform.gain[index : index + 1], transform.offset[index : index + 1])
            on_canvas = single.on_canvas(self.crop, self.size, self.crop.side * TRANSFORM_SMOOTHING_FRACTION)
            base = on_canvas.apply(self.photo[None] / 255.0)[0] * 255
            region = base[:, top:bottom, left:right]
            base[:, top:bottom, left:right] = region + alpha[0] * (generated[index] - region)
            out[index] = base.round().clamp(0, 255).to(torch.uint8)
        return out.permute(0, 2, 3, 1).contiguous().numpy()


@dataclass
class HybridMotion:
    """The ``"hybrid"`` motion source of one video (``Compositor.hybrid_motion``): renders composited frames.

    Per frame: the photo's sky and water advected along ``flow``; the generator's frame compared with its own
    reconstruction moved by the same recipe gives a smooth colour transform (its change of light and of the clouds'
    look), applied inside the movable region, or to the whole photo when the light changes with a style.
    """

    compositor: Compositor
    homographies: Homographies
    horizon: float
    recipe: FrameRecipe
    movable_crop: torch.Tensor  # (1, 1, R, R) in [0, 1]: the generator's crop of the movable mask
    flow: PhotoFlow | None

    @torch.no_grad()
    def render(
        self, images: torch.Tensor, reconstruction: torch.Tensor, frames: slice, relight_land: bool = False
    ) -> np.ndarray:
        """Generator frames ``images`` (t, 3, R, R) of the video's frames ``frames`` -> uint8 (t, H, W, 3)."""
        images, reconstruction = images.detach().cpu().float(), reconstruction.detach().cpu().float()
        moved = None if self.flow is None else self.flow.advect(self.recipe, frames)
        expected = reconstruction
        if self.flow is not None:
            warped = warp_by_recipe(reconstruction, self.homographies, self.horizon, self.recipe, frames)
            expected = reconstruction + self.movable_crop * (warped - reconstruction)
        transform = fit_colour_transform(expected, images)
        return self.compositor.composite_hybrid(moved, transform, relight_land=relight_land)
