"""The photo's own sky and water, moved at full resolution along the motion that warps S^dyn.

The generator animates its square crop at 64-512 px; a photo is often 1-4k px wide and wider than that square. So the
visible motion comes from the photo itself: one dense flow field over the whole frame, at the output resolution,
built from the same homographies, exponents and loop recipe that warp the dynamic noise (``motion.frame_recipe``), and
the photo's sky and water texture is sampled along it.

Coordinates: the homographies live in the crop's normalised coordinates (x right, y down, the crop square spans
[-1, 1], the horizon at y = 2h - 1). Every output pixel is expressed in those coordinates (a wide photo simply reaches
beyond +-1), mapped by H^n, and brought back to output pixels. Rows above the horizon follow the sky matrix, rows below
it the mirrored earth matrix (water reflects the clouds).

Sampling never reads land: the sky and the water each get a *plate*, the photo with every pixel outside that region
filled smoothly from the region itself (a push-pull fill), so texture that enters the frame from behind a ridge or
from beyond the border is sky-coloured, never a stretched house or a hole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..motion.homographies import POINT_EPS, FrameRecipe, Homographies, homography_powers

__all__ = ["CropFrame", "PhotoFlow", "fill_from_region"]

FILL_MIN_SIDE = 2  # the push-pull pyramid stops when a side would fall below this many pixels
REGION_WEIGHT_EPS = 1e-6  # a pyramid cell with less region weight than this is a hole at that level


def fill_from_region(image: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``image`` (C, H, W) with the pixels outside ``weight`` (H, W) in [0, 1] replaced by a smooth fill from inside.

    Push-pull: average the weighted image down a pyramid until every cell sees some region, then fill each level's
    holes from the coarser level on the way up. Inside the region (weight 1) pixels are kept as they are. With an
    empty region the result is the image's mean colour everywhere.
    """
    weight = weight.to(image).clamp(0, 1)
    if not bool((weight > REGION_WEIGHT_EPS).any()):
        return image.mean(dim=(1, 2), keepdim=True).expand_as(image).clone()
    levels: list[tuple[torch.Tensor, torch.Tensor]] = []
    values, weights = image[None] * weight, weight[None, None]
    while True:
        covered = weights > REGION_WEIGHT_EPS
        filled = torch.where(covered, values / weights.clamp_min(REGION_WEIGHT_EPS), 0.0)
        levels.append((filled, weights.clamp(max=1.0)))
        if bool(covered.all()) or min(values.shape[-2:]) < 2 * FILL_MIN_SIDE:
            break
        values = F.avg_pool2d(values, 2, ceil_mode=True) * 4
        weights = F.avg_pool2d(weights, 2, ceil_mode=True) * 4
    coarse = levels[-1][0]
    if not bool((levels[-1][1] > REGION_WEIGHT_EPS).all()):  # tiny region on a tiny pyramid: its mean colour
        mean = levels[-1][0].sum(dim=(2, 3), keepdim=True) / (levels[-1][1] > REGION_WEIGHT_EPS).sum()
        coarse = torch.where(levels[-1][1] > REGION_WEIGHT_EPS, coarse, mean)
    for filled, level_weight in reversed(levels[:-1]):
        upsampled = F.interpolate(coarse, size=filled.shape[-2:], mode="bilinear", align_corners=False)
        coarse = level_weight * filled + (1 - level_weight) * upsampled
    return coarse[0]


@dataclass(frozen=True)
class CropFrame:
    """Where the generator's crop square lies on the output canvas, in output pixels (floats)."""

    left: float
    top: float
    side: float

    def to_normalised(self, xs: torch.Tensor, ys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Output pixel centres -> the crop's normalised coordinates ([-1, 1] across the square)."""
        return (xs + 0.5 - self.left) / self.side * 2 - 1, (ys + 0.5 - self.top) / self.side * 2 - 1


class PhotoFlow:
    """The motion of every sky and water pixel of the output, frame by frame, and the photo advected along it.

    Args:
        photo: (3, H, W) float, the output-size photo (any value range; sampling is linear).
        sky_weight, water_weight: (H, W) in [0, 1]: the movable pixels above and below the horizon row.
        crop: the generator's crop square on this canvas (``CropFrame``), which fixes the motion's coordinates.
        homographies: (sky_H, earth_H) of the motion in the crop's normalised coordinates.
        horizon: fraction of the crop's height below which rows follow the earth (mirrored) matrix.
        rows: the band of output rows to move (e.g. the rows that hold any sky or water); None: all. Frames and
            grids cover this band only, which saves the work on rows that are all land.
    """

    def __init__(
        self,
        photo: torch.Tensor,
        sky_weight: torch.Tensor,
        water_weight: torch.Tensor,
        crop: CropFrame,
        homographies: Homographies,
        horizon: float,
        rows: slice | None = None,
    ):
        _, height, width = photo.shape
        self.size = (width, height)
        start, stop, _ = (rows or slice(0, height)).indices(height)
        self.rows = slice(start, stop)
        self.crop = crop
        self.homographies = homographies
        # Rows at or below this output row use the earth matrix (the crop's horizon, continued across the canvas).
        self.split_row = int(np.clip(round(crop.top + horizon * crop.side), 0, height))
        # Within the band: rows before this index follow the sky matrix.
        self._band_split = int(np.clip(self.split_row - self.rows.start, 0, self.rows.stop - self.rows.start))
        self.sky_plate = fill_from_region(photo, sky_weight)[None]
        self.water_plate = fill_from_region(photo, water_weight)[None]
        self._pixel_x = torch.arange(width, dtype=torch.float32)[None, :]
        self._pixel_y = torch.arange(height, dtype=torch.float32)[self.rows, None]
        # pixel index -> the crop's normalised coordinates, and normalised -> grid_sample coordinates of this canvas
        scale = 2.0 / crop.side
        self._pixels_to_crop = torch.tensor(
            [[scale, 0, (0.5 - crop.left) * scale - 1], [0, scale, (0.5 - crop.top) * scale - 1], [0, 0, 1]],
            dtype=torch.float64,
        )
        self._crop_to_grid = torch.tensor(
            [
                [crop.side / width, 0, (crop.side + 2 * crop.left) / width - 1],
                [0, crop.side / height, (crop.side + 2 * crop.top) / height - 1],
                [0, 0, 1],
            ],
            dtype=torch.float64,
        )

    def sampling_grid(self, exponent: float, fractional: bool = False) -> torch.Tensor:
        """(1, h, W, 2) grid_sample coordinates (align_corners=False) of frame H^exponent for the band's h rows.

        Pixel -> crop coordinates -> H^n -> canvas grid coordinates is one 3x3 matrix per region; a homography of a
        pixel grid is then outer sums of a row and a column, plus one division where it has perspective.
        """
        band = self._pixel_y.shape[0]
        grid = torch.empty((1, band, self.size[0], 2), dtype=torch.float32)
        for matrix, rows in (
            (self.homographies[0], slice(0, self._band_split)),
            (self.homographies[1], slice(self._band_split, band)),
        ):
            ys = self._pixel_y[rows]
            if ys.numel() == 0:
                continue
            power = homography_powers(matrix, [exponent], fractional)[0]
            m = (self._crop_to_grid @ power @ self._pixels_to_crop).float()
            xs = self._pixel_x
            w = m[2, 0] * xs + (m[2, 1] * ys + m[2, 2])
            out = grid[0, rows]
            torch.add(m[0, 0] * xs, m[0, 1] * ys + m[0, 2], out=out[..., 0])
            torch.add(m[1, 0] * xs, m[1, 1] * ys + m[1, 2], out=out[..., 1])
            if bool((m[2, :2] != 0).any()):
                out /= torch.where(w.abs() > POINT_EPS, w, torch.ones_like(w))[..., None]
        return grid

    def displacement(self, exponent: float) -> torch.Tensor:
        """(h, W, 2) how far, in output pixels, the content of the band has travelled after H^exponent (x, y).

        The sampling grid reads content from p + d_read; content therefore appears to move by -d_read.
        """
        width, height = self.size
        grid = self.sampling_grid(exponent)[0].double()
        read_x = (grid[..., 0] + 1) / 2 * width - 0.5
        read_y = (grid[..., 1] + 1) / 2 * height - 0.5
        xs = torch.arange(width, dtype=torch.float64)[None, :]
        ys = self._pixel_y.double()
        return torch.stack([xs - read_x, ys - read_y], dim=-1)

    def advect(self, recipe: FrameRecipe, frames: Sequence[int] | slice, fractional: bool = False) -> torch.Tensor:
        """The plates moved for the frames ``frames`` of ``recipe`` (``motion.frame_recipe``): (t, 3, h, W).

        Looping recipes blend two phase-shifted warps. A plain blend of two textures loses contrast halfway through
        the loop, so the blend keeps the local mean and rescales the detail by 1 / sqrt(w_a^2 + w_b^2): the sky's
        contrast stays the photo's in every frame, and the weights still end exactly on the first frame.
        """
        exps0 = recipe[0][0][frames]
        out = []
        for index in range(len(exps0)):
            parts = [(exps[frames][index], weights[frames][index]) for exps, weights in recipe]
            parts = [(exponent, float(weight)) for exponent, weight in parts if weight > 0]
            if len(parts) == 1:
                out.append(self._warp(parts[0][0], fractional))
                continue
            warped = [self._warp(exponent, fractional) for exponent, _ in parts]
            weights = [weight for _, weight in parts]
            out.append(_blend_keeping_contrast(warped, weights))
        return torch.cat(out)

    def _warp(self, exponent: float, fractional: bool) -> torch.Tensor:
        """(1, 3, h, W): the band's sky rows from the sky plate, its water rows from the water plate, moved."""
        start, split, stop = self.rows.start, self.split_row, self.rows.stop
        if exponent == 0:
            sky_rows, water_rows = slice(start, max(start, min(split, stop))), slice(min(stop, max(split, start)), stop)
            return torch.cat([self.sky_plate[..., sky_rows, :], self.water_plate[..., water_rows, :]], dim=2)
        grid = self.sampling_grid(exponent, fractional)
        parts = [
            F.grid_sample(plate, part, mode="bilinear", padding_mode="reflection", align_corners=False)
            for plate, part in (
                (self.sky_plate, grid[:, : self._band_split]),
                (self.water_plate, grid[:, self._band_split :]),
            )
            if part.shape[1] > 0
        ]
        return torch.cat(parts, dim=2)


CONTRAST_BLUR_DIVISOR = 64  # the local mean of a loop blend is taken over ~1/64 of the longer side


def _blend_keeping_contrast(images: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """sum w_i x_i with the detail (x - local mean) rescaled so its energy does not drop in the middle of a loop."""
    blended = sum(w * x for w, x in zip(weights, images))
    height, width = blended.shape[-2:]
    cell = max(2, max(height, width) // CONTRAST_BLUR_DIVISOR)
    # Local mean on a coarse copy, brought back smoothly: as good as a sliding window here, at a fraction of the cost.
    coarse = F.avg_pool2d(blended, cell, ceil_mode=True)
    mean = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    gain = 1.0 / max(1e-6, float(np.sqrt(sum(w * w for w in weights))))
    return mean + (blended - mean) * gain
