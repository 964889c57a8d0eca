"""Carry the generator's change of light to the photo as a smooth, local, per-channel affine colour transform.

The generator sees a 64-512 px square of the photo; the photo is larger and often wider. Pasting (or adding) the
generator's pixels shows its square and blurs the photo. Instead we fit, per colour channel and per neighbourhood,
``target ~ gain * source + offset`` between two generator images (its reconstruction and a frame with the new light)
and apply those coefficients to the photo's own pixels: night darkens and sunset warms sky, water and land alike while
every edge and texture of the photo stays where it is (local colour transfer in the spirit of Shih et al. 2013 and
the appearance model of Endo et al. 2019).

The fit is a guided-filter style regression: window means of source, target, their product and the source's square
give a per-window gain, shrunk where the window is flat toward the crop's global gain or, where the light falls,
toward the window's own ratio of light (so a flat sky or lawn keeps the photo's texture instead of being painted
with the window's mean colour, and its shadows dim with it instead of going black). Where the light falls, the fit
never lightens: a window the generator brightens takes the light the rest of the picture keeps, and a window that
darkens or would have brightened is relit by scaling, so black stays black. Gains and offsets are then averaged
over windows once more, continued beyond the crop by extending its border values, smoothed across that border, and
upsampled: the transform is smooth everywhere and has no edge where the generator's square ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .images import LUMA_WEIGHTS
from .photo_motion import CropFrame

__all__ = ["ColourTransform", "fit_colour_transform"]

WINDOW_FRACTION = 1 / 8  # window radius as a fraction of the generator's resolution
REGULARISATION = 4e-3  # in (0..1 intensity)^2: windows flatter than ~0.06 std lean on a prior gain
GAIN_RANGE = (0.0, 3.0)  # a gain outside this is a fitting accident, not a change of light
DARKENING_WIDTH = 0.05  # a window darker by this much (0..1 intensity) on average is relit by scaling alone
DISTRUSTED_BRIGHTENING = 0.25  # where the light falls, a window this much brighter (relative) takes the picture's ratio


def _luma(images: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma of (N, 3, ...) images, keeping the channel axis: (N, 1, ...)."""
    weights = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype, device=images.device).view(1, 3, *[1] * (images.dim() - 2))
    return (images * weights).sum(dim=1, keepdim=True)


def _box(images: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window with the window shrunk at the borders (separable)."""
    size = 2 * radius + 1
    images = F.avg_pool2d(images, (1, size), stride=1, padding=(0, radius), count_include_pad=False)
    return F.avg_pool2d(images, (size, 1), stride=1, padding=(radius, 0), count_include_pad=False)


def _light_kept(source: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(N, 1, 1, 1) the share of its luma that the part of the picture growing darker keeps: the ratio of the summed
    lumas over the pixels whose light falls, each counted as much as it falls (up to DARKENING_WIDTH), so that pixels
    near no change neither enter nor leave it suddenly as the light changes over a video."""
    source_luma, target_luma = _luma(source), _luma(target)
    falling = weight * ((source_luma - target_luma) / DARKENING_WIDTH).clamp(0, 1)
    kept = (falling * target_luma).sum(dim=(2, 3), keepdim=True) / (falling * source_luma).sum(
        dim=(2, 3), keepdim=True
    ).clamp_min(1e-6)
    return torch.where(falling.sum(dim=(2, 3), keepdim=True) > 0, kept.clamp(max=1.0), torch.ones_like(kept))


@dataclass
class ColourTransform:
    """Per-pixel ``gain`` and ``offset`` maps (N, 3, R, R) over the generator's crop, for images in [0, 1]."""

    gain: torch.Tensor
    offset: torch.Tensor

    def __len__(self) -> int:
        return self.gain.shape[0]

    def on_canvas(
        self, crop: CropFrame, size: tuple[int, int], smoothing_px: float, rows: slice | None = None
    ) -> ColourTransform:
        """The maps resampled onto an output canvas ``size`` (W, H) on which the crop square lies at ``crop``.

        Outside the square the border values continue outward; the continuation is smoothed over ``smoothing_px``
        (in output pixels) on a coarse copy, so neither the maps nor their slope jump at the square's edge. ``rows``
        limits the result to a band of the canvas (the same values as those rows of the whole canvas).
        """
        width, height = size
        resolution = self.gain.shape[-1]
        scale = resolution / crop.side  # coarse canvas: the generator's pixel size
        coarse_w, coarse_h = max(2, round(width * scale)), max(2, round(height * scale))
        # Coarse cell centres, as output pixel indices (CropFrame adds the half pixel).
        xs = (torch.arange(coarse_w, dtype=torch.float32) + 0.5) * (width / coarse_w) - 0.5
        ys = (torch.arange(coarse_h, dtype=torch.float32) + 0.5) * (height / coarse_h) - 0.5
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        norm_x, norm_y = crop.to_normalised(grid_x, grid_y)
        grid = torch.stack([norm_x, norm_y], dim=-1)[None].expand(len(self), -1, -1, -1).to(self.gain)
        maps = torch.cat([self.gain, self.offset], dim=1)
        coarse = F.grid_sample(maps, grid, mode="bilinear", padding_mode="border", align_corners=False)
        radius = max(1, round(smoothing_px * scale))
        coarse = _box(_box(coarse, radius), radius)
        rows = slice(0, height) if rows is None else rows
        band_y = (torch.arange(height, dtype=torch.float32)[rows] + 0.5) / height * 2 - 1
        band_x = (torch.arange(width, dtype=torch.float32) + 0.5) / width * 2 - 1
        grid_y, grid_x = torch.meshgrid(band_y, band_x, indexing="ij")
        band_grid = torch.stack([grid_x, grid_y], dim=-1)[None].expand(len(self), -1, -1, -1).to(coarse)
        # Bilinear with align_corners=False: the same values F.interpolate would give, for these rows only.
        full = F.grid_sample(coarse, band_grid, mode="bilinear", padding_mode="border", align_corners=False)
        return ColourTransform(full[:, :3], full[:, 3:])

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """gain * images + offset, for images (N or 1, 3, H, W) in [0, 1] of the maps' size."""
        return self.gain * images + self.offset


def fit_colour_transform(
    source: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    window_fraction: float = WINDOW_FRACTION,
    regularisation: float = REGULARISATION,
) -> ColourTransform:
    """The smooth per-channel affine map taking ``source`` to ``target`` (both (N or 1, 3, R, R) in [-1, 1]).

    ``weight`` (R, R) in [0, 1] restricts the fit to some pixels (e.g. static ones, so moving clouds do not count as a
    change of light); windows without weight borrow from their neighbours through the final averaging. Identical
    inputs give gain 1 and offset 0 everywhere.
    """
    source = (source.float() + 1) / 2
    target = (target.float() + 1) / 2
    source = source.expand_as(target) if source.shape[0] == 1 else source
    resolution = target.shape[-1]
    radius = max(1, round(resolution * window_fraction))
    w = torch.ones_like(target[:, :1]) if weight is None else weight.to(target).expand(target.shape[0], 1, -1, -1)
    w = w.clamp(0, 1)

    # The crop's global gain per channel: what flat windows fall back to.
    total = w.sum(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    mean_s = (w * source).sum(dim=(2, 3), keepdim=True) / total
    mean_t = (w * target).sum(dim=(2, 3), keepdim=True) / total
    var_s = (w * (source - mean_s) ** 2).sum(dim=(2, 3), keepdim=True) / total
    cov = (w * (source - mean_s) * (target - mean_t)).sum(dim=(2, 3), keepdim=True) / total
    global_gain = ((cov + regularisation * 1.0) / (var_s + regularisation)).clamp(*GAIN_RANGE)

    # Window statistics (weighted means).
    window_w = _box(w, radius).clamp_min(1e-6)
    local_s = _box(w * source, radius) / window_w
    local_t = _box(w * target, radius) / window_w
    local_var = (_box(w * source * source, radius) / window_w - local_s**2).clamp_min(0)
    local_cov = _box(w * source * target, radius) / window_w - local_s * local_t
    # Where the light falls over the whole picture (night, blue hour), no neighbourhood gets lighter: a window that
    # brightens is the generator's own idea of dark land (a teal-grey night over black hills), not the new light.
    # Such a window takes the light that the rest of the picture keeps instead (`_light_kept`): at night the land
    # is lit by the sky, and dims as the sky does. A window that brightens only a little goes part of the way, and
    # one that keeps its light stays as it was. Its target is scaled to that luma, which keeps its hue, so a bluer
    # dusk stays bluer. The rule fades in as the picture darkens (fully at DARKENING_WIDTH), so a day-to-night video
    # has no jump where it starts.
    light_falls = ((_luma(mean_s) - _luma(mean_t)) / DARKENING_WIDTH).clamp(0, 1)
    held_back = light_falls * ((_luma(local_t) - _luma(local_s)) / DARKENING_WIDTH).clamp(0, 1)  # (N, 1, R, R)
    distrust = ((_luma(local_t) / _luma(local_s).clamp_min(1e-3) - 1) / DISTRUSTED_BRIGHTENING).clamp(0, 1)
    allowed = 1 + distrust * (_light_kept(source, target, w) - 1)  # the window's ratio of luma may reach this
    excess = (allowed * _luma(local_s) / _luma(local_t).clamp_min(1e-6)).clamp(max=1.0)
    scale = 1 + light_falls * (excess - 1)
    local_t, local_cov = local_t * scale, local_cov * scale
    # A flat window cannot tell a gain from an offset. Where the light falls, the prior is the window's own ratio of
    # light, the scaling that dimmer light is: with the crop's gain instead (higher than the ratio where the land
    # loses more light than the sky), the offset went negative and a warm sunset took a village's shaded forest to
    # black (its darkest 5 % 27 -> 8 of 255, the mean 83 -> 66). Where the light rises, the crop's gain is kept.
    scaling = ((local_t + 1e-3) / (local_s + 1e-3)).clamp(*GAIN_RANGE)
    prior = global_gain + light_falls * (scaling - global_gain)
    gain = ((local_cov + regularisation * prior) / (local_var + regularisation)).clamp(*GAIN_RANGE)
    offset = local_t - gain * local_s
    # Where the light falls, black stays black. An affine map with gain < 1 pulls every value toward its fixed point
    # offset / (1 - gain): haze pulls toward a bright airlight, above the window's mean, and lightens the window; a
    # darkening window with a positive offset pulls toward a dark grey instead, which is the generator's own land
    # (rarely as dark as a photo's) showing through, and would lift a photo's near-black hills at night. So the
    # offset of a darkening window goes to zero (fully once it darkens by DARKENING_WIDTH), with the gain solved again
    # so that the window's mean still maps to the target's: the change becomes the scaling that light is. So does a
    # window held back by the rule above, in every channel: the generator's night turns black hills teal (green and
    # blue up, red down), and held to the same luma that teal would still come as an added grey. (A window whose
    # light falls keeps its offsets in the channels that rise: a sunset adds red to a deep blue sky that has little.)
    darkening = torch.maximum(((local_s - local_t) / DARKENING_WIDTH).clamp(0, 1), held_back)
    capped = offset - darkening * offset.clamp_min(0)
    gain = torch.where(capped < offset, ((local_t - capped) / local_s.clamp_min(1e-3)).clamp(*GAIN_RANGE), gain)
    offset = local_t - gain * local_s

    # Second averaging (guided filter): every pixel takes the mean model of the windows that contain it.
    # Windows without data (a weight that leaves whole areas out) take the global model.
    has_data = (_box(w, radius) > 1e-3).float()
    norm = _box(has_data, radius)
    global_offset = mean_t - global_gain * mean_s
    gain = torch.where(norm > 1e-3, _box(gain * has_data, radius) / norm.clamp_min(1e-3), global_gain)
    offset = torch.where(norm > 1e-3, _box(offset * has_data, radius) / norm.clamp_min(1e-3), global_offset)
    return ColourTransform(gain, offset)
