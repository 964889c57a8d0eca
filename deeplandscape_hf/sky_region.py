"""Sky and water as regions, found without any downloaded weights: the offline segmenter.

Why a region and not a colour: a cloud can be white, grey, near black or orange, so no colour rule finds all of them.
What clouds share with the sky around them is where they are (above the land, in one piece with the rest of the
sky) and that the land below is a different population of colours and textures. So the sky is found as a per-column
border, the row in each column above which everything is sky, chosen to best separate a sky colour model above from
a ground colour model below (the classical sky-region formulation), with these steps:

1. A first border per column for each of a range of gradient thresholds (the first strong edge from the top); the
   threshold whose border best separates the two colour populations starts the models.
2. Colour histograms of sky and ground, a texture term (the sky is smooth at a small scale) and an edge term
   (borders sit on strong vertical gradients) give every (column, row) a cost; dynamic programming over the columns
   finds the cheapest border with bounded jumps, and the models are refitted from it twice.
3. Objects standing in the sky (cables, masts, kites, branches) are cut out: compact pieces enclosed by sharp edges
   whose colour is not the sky's.
4. The border is refined against the photo with a guided filter, so it follows roofs and ridges at a finer scale.
5. Water, below the horizon: smooth, wide regions that mirror the sky above the waterline or share its colour.

Everything is conservative: pixels the models cannot separate get low confidence and stay still, and a photo whose
sky and land cannot be told apart (fog, night, low contrast) is reported as uncertain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

__all__ = ["SkyRegions", "find_sky_regions"]

COARSE_SIDE_PX = 256  # the border search runs on a copy this long: texture is measured at a known scale, and it is fast
FINE_SIDE_PX = 768  # the refinement and the object cuts run at most at this size
HISTOGRAM_BINS = 16  # per RGB channel
EDGE_THRESHOLDS = np.geomspace(0.02, 0.4, 12)  # gradient magnitudes (RGB in [0, 1] per pixel) tried for the first border
REFIT_ROUNDS = 3
JUMP_COST = 0.35  # per row of border jump between neighbouring columns (in units of one pixel's colour cost)
MAX_JUMP_COST_ROWS = 12  # jumps longer than this cost the same: buildings and towers have vertical sides
EDGE_REWARD = 3.0  # a border on a strong vertical gradient is preferred by up to this many pixels' cost
SEED_BAND = 0.06  # the top and bottom rows of this fraction of the height seed the sky and ground models
SEED_WEIGHT = 0.3  # share of each colour model kept for the top (sky) or bottom (ground) rows
GREY_PRIOR_MIN_LEVEL = 4  # of HISTOGRAM_BINS: greys darker than a quarter of white are not in the cloud prior
PRIOR_WEIGHT = 0.2  # share of the sky colour model given to greys (clouds)
TEXTURE_WEIGHT = 0.7
SMOOTH_TEXTURE = 0.02  # local luma std (5x5 at the coarse size) of a smooth sky; above it, pixels look like land
DARK_SKY_LUMA = 0.12  # a sky darker than this on average (night, deep dusk) is not trusted
MIN_BORDER_CONTRAST = 0.04  # median RGB step across the border needed to trust it (fog, haze below this)
OBJECT_MAX_FRACTION = 0.02  # an object cut out of the sky covers at most this fraction of the image


@dataclass(frozen=True)
class SkyRegions:
    """Masks at the input image's size, float32 (H, W) in [0, 1].

    Attributes:
        sky: sky pixels (clouds included).
        water: water pixels below the horizon.
        confidence: how sure the segmenter is of each pixel's label (1 sure, 0 a guess); low on the borders and
            everywhere on an uncertain photo.
        uncertainty: None when the masks can be trusted, else a sentence saying why not.
    """

    sky: np.ndarray
    water: np.ndarray
    confidence: np.ndarray
    uncertainty: str | None


# ----------------------------------------------------------------------------------------------------------------------
# Features


def _resized(image: Image.Image, long_side: int) -> np.ndarray:
    scale = long_side / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def _gradient(rgb: np.ndarray, sigma: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """(magnitude, vertical component) of the colour gradient: the largest over the channels, per pixel."""
    smooth = ndimage.gaussian_filter(rgb, sigma=(sigma, sigma, 0), mode="nearest")
    gy = np.abs(ndimage.sobel(smooth, axis=0, mode="nearest")).max(axis=2) / 4.0
    gx = np.abs(ndimage.sobel(smooth, axis=1, mode="nearest")).max(axis=2) / 4.0
    return np.hypot(gx, gy), gy


def _texture(rgb: np.ndarray, window: int = 5) -> np.ndarray:
    """Local luma std, then its mean over a wider window: foliage, rock and roofs stay rough, while the thin rough
    line along a cloud's edge (a few pixels wide) is diluted by the smooth cloud and sky around it."""
    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    mean = ndimage.uniform_filter(luma, size=window, mode="nearest")
    mean_sq = ndimage.uniform_filter(luma * luma, size=window, mode="nearest")
    local = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))
    rough_share = ndimage.uniform_filter((local > SMOOTH_TEXTURE).astype(np.float32), size=2 * window + 1)
    return local * rough_share


def _bins(rgb: np.ndarray) -> np.ndarray:
    quantised = np.minimum((rgb * HISTOGRAM_BINS).astype(np.int32), HISTOGRAM_BINS - 1)
    return (quantised[..., 0] * HISTOGRAM_BINS + quantised[..., 1]) * HISTOGRAM_BINS + quantised[..., 2]


def _histogram(
    bins: np.ndarray, weights: np.ndarray, seed: np.ndarray | None = None, prior: np.ndarray | None = None
) -> np.ndarray:
    """A smoothed, normalised colour histogram: neighbouring colours share evidence, unseen colours keep a floor.

    ``seed`` and ``prior`` (normalised histograms) are mixed in with SEED_WEIGHT and PRIOR_WEIGHT of the total.
    """
    counts = np.bincount(bins.ravel(), weights=weights.ravel().astype(np.float64), minlength=HISTOGRAM_BINS**3)
    counts = ndimage.gaussian_filter(counts.reshape((HISTOGRAM_BINS,) * 3), sigma=1.0, mode="constant")
    model = counts / max(counts.sum(), 1e-9)
    if not counts.sum() > 0:
        model = np.full_like(model, 1.0 / model.size)
    for extra, weight in ((seed, SEED_WEIGHT), (prior, PRIOR_WEIGHT)):
        if extra is not None:
            model = (1 - weight) * model + weight * extra
    return model + 1e-4 / model.size


def _grey_prior() -> np.ndarray:
    """Greys from mid-dark to white, equally likely: clouds are colourless, whatever colour the clear sky is."""
    levels = np.arange(HISTOGRAM_BINS)
    red, green, blue = np.meshgrid(levels, levels, levels, indexing="ij")
    spread = np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)
    bright_enough = np.minimum(np.minimum(red, green), blue) >= GREY_PRIOR_MIN_LEVEL  # dark greys are mostly shade
    prior = ndimage.gaussian_filter(((spread == 0) & bright_enough).astype(np.float64), sigma=1.0, mode="constant")
    return prior / prior.sum()


# ----------------------------------------------------------------------------------------------------------------------
# The border


def _below(border: np.ndarray, height: int) -> np.ndarray:
    """(H, W) True at and below each column's border row (border = number of sky rows in that column)."""
    return np.arange(height)[:, None] >= border[None, :]


def _first_edge_border(magnitude: np.ndarray, threshold: float) -> np.ndarray:
    strong = magnitude > threshold
    return np.where(strong.any(axis=0), strong.argmax(axis=0), magnitude.shape[0])


def _separation(rgb: np.ndarray, ground: np.ndarray) -> float:
    """How well a border splits the colours in two: between-side variance over within-side variance (Otsu's ratio,
    in RGB). Unlike a tight-cluster energy it does not prefer a thin strip of clear sky over the whole cloudy sky."""
    fraction = ground.mean()
    if not 0.02 <= fraction <= 0.98:
        return -np.inf
    sky_pixels, ground_pixels = rgb[~ground], rgb[ground]
    between = fraction * (1 - fraction) * float(((sky_pixels.mean(0) - ground_pixels.mean(0)) ** 2).sum())
    within = (1 - fraction) * float(sky_pixels.var(0).sum()) + fraction * float(ground_pixels.var(0).sum())
    return between / max(within, 1e-9)


def _initial_border(rgb: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    candidates = [_first_edge_border(magnitude, threshold) for threshold in EDGE_THRESHOLDS]
    energies = [_separation(rgb, _below(border, rgb.shape[0])) for border in candidates]
    if not np.isfinite(max(energies)):
        return np.full(rgb.shape[1], rgb.shape[0] // 3)  # no threshold leaves both sides: start from the top third
    return candidates[int(np.argmax(energies))]


def _sky_costs(rgb: np.ndarray, bins: np.ndarray, texture: np.ndarray, border: np.ndarray) -> np.ndarray:
    """Per pixel, the cost of calling it sky minus the cost of calling it ground (negative = sky-like)."""
    height = rgb.shape[0]
    ground = _below(border, height)
    # Smooth pixels speak for the sky and rough ones for the ground, and the top and bottom rows always speak: sky
    # left below a first border (under a cable, around a cloud) then barely enters the ground model, so one wrong
    # border does not teach the models to keep itself.
    roughness = np.clip(texture / (3 * SMOOTH_TEXTURE), 0.0, 1.0)
    band = max(1, round(SEED_BAND * height))
    top, bottom = np.zeros_like(ground), np.zeros_like(ground)
    top[:band], bottom[-band:] = True, True
    sky_model = _histogram(bins, ~ground * (1.0 - roughness), seed=_histogram(bins, top), prior=_grey_prior())
    ground_model = _histogram(bins, (ground & ~top) * roughness, seed=_histogram(bins, bottom))
    colour = np.log(ground_model.ravel()[bins]) - np.log(sky_model.ravel()[bins])
    rough = TEXTURE_WEIGHT * np.clip(np.log(np.maximum(texture, 1e-4) / SMOOTH_TEXTURE), -1.0, 2.0)
    return np.clip(colour, -4.0, 4.0) + rough


def _best_border(costs: np.ndarray, vertical_gradient: np.ndarray) -> np.ndarray:
    """Dynamic programming over columns: the border minimising sky costs above it, edge rewards and jump costs."""
    height, width = costs.shape
    above = np.vstack([np.zeros((1, width), np.float32), np.cumsum(costs, axis=0)])  # (H+1, W): cost of b sky rows
    reward = np.vstack([np.zeros((1, width)), np.minimum(vertical_gradient / 0.1, 1.0)]) * EDGE_REWARD
    reward[-1] = 0.0  # a border at the bottom edge is not on an edge
    local = above - reward
    total = local[:, 0].copy()
    choice = np.zeros((height + 1, width), np.int32)
    rows = np.arange(height + 1)
    for column in range(1, width):
        relaxed, origin = _truncated_l1_min(total, rows)
        total = relaxed + local[:, column]
        choice[:, column] = origin
    border = np.empty(width, np.int64)
    border[-1] = int(np.argmin(total))
    for column in range(width - 1, 0, -1):
        border[column - 1] = choice[border[column], column]
    return border


def _truncated_l1_min(values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """min over r of values[r] + JUMP_COST * min(|row - r|, MAX_JUMP_COST_ROWS), and the r reaching it."""
    ramp = JUMP_COST * rows
    forward = values - ramp  # min over r <= row of values[r] + c (row - r) = c row + running min of (values - c r)
    forward_min = np.minimum.accumulate(forward)
    forward_origin = np.maximum.accumulate(np.where(forward <= forward_min, rows, 0))
    backward = (values + ramp)[::-1]  # the same from the bottom up
    backward_min = np.minimum.accumulate(backward)
    backward_origin = np.maximum.accumulate(np.where(backward <= backward_min, np.arange(len(rows)), 0))
    backward_origin = (len(rows) - 1 - backward_origin)[::-1]
    best_forward, best_backward = forward_min + ramp, backward_min[::-1] - ramp
    best = np.minimum(best_forward, best_backward)
    origin = np.where(best_forward <= best_backward, forward_origin, backward_origin)
    far = int(np.argmin(values))
    far_cost = values[far] + JUMP_COST * MAX_JUMP_COST_ROWS
    jump = far_cost < best
    return np.where(jump, far_cost, best), np.where(jump, far, origin)


def _coarse_sky(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sky mask, per-pixel sky cost) at the coarse size."""
    magnitude, vertical = _gradient(rgb)
    texture = _texture(rgb)
    bins = _bins(rgb)
    border = _initial_border(rgb, magnitude)
    costs = _sky_costs(rgb, bins, texture, border)
    for _ in range(REFIT_ROUNDS):
        border = _best_border(costs, vertical)
        costs = _sky_costs(rgb, bins, texture, border)
    return ~_below(border, rgb.shape[0]), costs
