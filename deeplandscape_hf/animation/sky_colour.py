"""The older offline rule: sky and water by colour and position. Kept only to compare the region segmenter
(`sky_region`) against it (`deeplandscape evaluate masks`); it misses clouds, storm and sunset skies.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from .images import luma

__all__ = ["find_colour_regions"]

HEURISTIC_WORKING_SIDE_PX = 256  # decisions are made on a small copy: fast, and texture is measured at a known scale
TEXTURE_WINDOW_PX = 7  # local luma std window: smooth (sky-like) pixels are at least half a window from an edge
OCCLUDER_WIDTH_FRACTION = 0.02  # widest wire/cable/branch that may cut the sky in two, as a fraction of the side
OCCLUDER_COLOUR_TOLERANCE = 0.04  # largest RGB step (0..1) across a wire between two parts of one sky
SKY_COLOURED_WATER_GAP = 0.1  # fraction of the height below the sky line before sky-coloured pixels may be water


def _rgb_features(image: Image.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """RGB in [0, 1], brightness (HSV value), saturation and local texture (std of luma in a 7x7 window)."""
    rgb = np.asarray(image, dtype=np.float32) / 255.0
    value = rgb.max(axis=2)
    saturation = (value - rgb.min(axis=2)) / np.maximum(value, 1e-6)
    brightness = luma(rgb)
    mean = ndimage.uniform_filter(brightness, size=TEXTURE_WINDOW_PX, mode="nearest")
    mean_sq = ndimage.uniform_filter(brightness * brightness, size=TEXTURE_WINDOW_PX, mode="nearest")
    texture = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))
    return rgb, value, saturation, texture


def _working_copy(image: Image.Image) -> Image.Image:
    scale = HEURISTIC_WORKING_SIDE_PX / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)


def _to_size(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Binary mask at working size -> binary float32 mask at `size` (W, H), with smooth-ish borders."""
    if (mask.shape[1], mask.shape[0]) == tuple(size):
        return mask.astype(np.float32)
    resized = Image.fromarray(mask.astype(np.float32)).resize(tuple(size), Image.Resampling.BILINEAR)
    return (np.asarray(resized) >= 0.5).astype(np.float32)


def _sky_like(rgb: np.ndarray, value: np.ndarray, saturation: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """Pixels coloured like sky: blue, or bright and pale (haze, overcast, clouds), and smooth."""
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    bluish = (blue > red + 0.04) & (blue >= green - 0.03) & (value > 0.35)
    pale_bright = (value > 0.6) & (saturation < 0.3)
    smooth = texture < 0.035
    return (bluish | pale_bright) & smooth


def _sky_line(sky: np.ndarray) -> int | None:
    """The lowest row where the sky covers 5 % of the width (None without sky)."""
    rows = np.flatnonzero(sky.mean(axis=1) >= 0.05)
    return int(rows[-1]) if rows.size else None


def _colour_step_across(
    region: np.ndarray, sky: np.ndarray, near_sky: np.ndarray, gap: float, rgb: np.ndarray
) -> float:
    """Largest channel difference between the mean colours on the two sides of the gap between region and sky."""
    near_region = ndimage.distance_transform_edt(~region) <= gap
    return float(np.abs(rgb[region & near_sky].mean(axis=0) - rgb[sky & near_region].mean(axis=0)).max())


def _add_regions_behind_thin_occluders(sky: np.ndarray, labels: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Add sky-coloured regions cut off from ``sky`` only by a thin structure (wire, cable, branch, mast).

    A region is a candidate when it covers 0.5 % of the image and the gap between it and the sky is at most an
    occluder (`OCCLUDER_WIDTH_FRACTION` of the side) plus what the smoothness test (half a texture window) and the
    3x3 opening take off each side of any edge. It joins when it lies beside the sky rather than below it (its top
    row well above the sky line), or when its colour along the gap matches the sky's on the other side (a wire has
    the same sky on both sides). Both rules keep out a lake seen across a narrow shore: it starts below the sky
    line, and reflections are darker than the sky they mirror.
    """
    height, width = sky.shape
    line = _sky_line(sky)
    if line is None:
        return sky
    gap = TEXTURE_WINDOW_PX + 1 + round(OCCLUDER_WIDTH_FRACTION * max(height, width))
    near_sky = ndimage.distance_transform_edt(~sky) <= gap
    joined = sky.copy()
    for index in np.unique(labels[near_sky & ~sky & (labels > 0)]):
        region = labels == index
        if region.sum() < 0.005 * sky.size:
            continue
        top = int(np.flatnonzero(region.any(axis=1))[0])
        beside = top < line - 0.1 * height
        if beside or _colour_step_across(region, sky, near_sky, gap, rgb) < OCCLUDER_COLOUR_TOLERANCE:
            joined |= region
    return joined


def _sky_at_working_size(small: Image.Image) -> np.ndarray:
    """Boolean sky mask of the small working copy (see `heuristic_sky_mask` for the rule)."""
    features = _rgb_features(small)
    candidates = ndimage.binary_opening(_sky_like(*features), structure=np.ones((3, 3), bool))
    labels, _ = ndimage.label(candidates)
    top_labels = np.unique(labels[:2][labels[:2] > 0])
    if top_labels.size == 0:
        return np.zeros(candidates.shape, bool)
    sky = _add_regions_behind_thin_occluders(np.isin(labels, top_labels), labels, features[0])
    return ndimage.binary_fill_holes(ndimage.binary_closing(sky, structure=np.ones((5, 5), bool), border_value=1))


def _keep_water_like_regions(water: np.ndarray, sky: np.ndarray, cut_row: int) -> np.ndarray:
    """Keep candidate regions shaped like water surfaces, dropping hazy blue mountains and pale walls.

    A region must cover 1 % of the image and 15 % of its width. If it touches the sky (a sea at the horizon, or a
    mountain), the sky's lower edge above it must be straight (within 3 % of the height), as a sea horizon is and a
    ridge is not; otherwise its own top edge (the far shore) must be nearly straight (within 8 % of the height).
    """
    height, width = water.shape
    # Reflections of posts, boats and buildings cut water into strips: join them horizontally first.
    joined = ndimage.binary_closing(water, structure=np.ones((3, max(3, width // 16)), bool), border_value=0)
    water = ndimage.binary_fill_holes(joined | water)
    labels, _ = ndimage.label(water)
    has_sky = sky.any(axis=0)
    sky_bottom = np.where(has_sky, height - 1 - np.argmax(sky[::-1], axis=0), -1)  # lowest sky row per column
    keep = np.zeros_like(water)
    for index in range(1, int(labels.max()) + 1):
        component = labels == index
        columns = np.flatnonzero(component.any(axis=0))
        if component.sum() < 0.01 * water.size or columns.size < 0.15 * width:
            continue
        top_rows = component[:, columns].argmax(axis=0)
        # A top at `cut_row` means the candidate was cut there and really continues upwards (a slope).
        touching = (has_sky[columns] & (top_rows - sky_bottom[columns] <= 3)) | (top_rows <= cut_row + 2)
        touches_sky = touching.mean() >= 0.5
        profile = sky_bottom[columns][touching] if touches_sky else top_rows
        spread = np.percentile(profile, 90) - np.percentile(profile, 10)
        if spread <= (0.03 if touches_sky else 0.08) * height:
            keep |= component
    return keep


def find_colour_regions(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """The older offline rule: (sky, water) float32 masks in {0, 1} at the image's size, the sky by colour and
    position, plus water that mirrors the sky's colour.

    Sky: a pixel is sky-coloured when it is bluish (blue above red and about green) or bright and pale (haze,
    overcast, clouds), and smooth (local luma std below 0.035 in a 7x7 window, at 256 px); the sky is the union of
    sky-coloured regions that touch the top edge, with enclosed holes (clouds, birds, sun) filled. It fails on
    night scenes, dark storm clouds, saturated sunsets and skies that do not reach the top edge.

    Water rule: for a row y below the sky line r (the lowest row where sky covers 5 % of the width), the mirrored
    row is 2r - y; a pixel is water when its mirror is sky and its chromaticity matches the mirror (reflections
    are darker but keep their hue), or when it is sky-coloured itself and at least 10 % of the height below r.
    Only wide regions with a straight upper edge (far shore or sea horizon) are kept. The rule is deliberately
    conservative: water it misses stays still, which looks natural, whereas animating a hazy mountain does not.
    """
    small = _working_copy(image)
    rgb, value, saturation, texture = _rgb_features(small)
    sky_small = _sky_at_working_size(small)
    height, width = sky_small.shape
    water = np.zeros_like(sky_small)
    line = _sky_line(sky_small)
    if line is not None:
        below = np.arange(line + 1, height)
        mirrored = 2 * line - below
        valid = mirrored >= 0
        rows, mirror_rows = below[valid], mirrored[valid]
        chroma = rgb / np.maximum(rgb.sum(axis=2, keepdims=True), 1e-6)
        same_hue = np.abs(chroma[rows] - chroma[mirror_rows]).sum(axis=2) < 0.04  # L1 of rgb/sum
        darker_not_black = (value[rows] > 0.15) & (value[rows] <= value[mirror_rows] * 1.15 + 0.05)
        reflection = sky_small[mirror_rows] & same_hue & darker_not_black & (texture[rows] < 0.06)
        water[rows] = reflection
        # Sky-coloured pixels count only well below the sky line: right under it they are mostly hazy mountains.
        colour_start = line + 1 + round(SKY_COLOURED_WATER_GAP * height)
        water[colour_start:] |= _sky_like(rgb, value, saturation, texture)[colour_start:]
        water &= ~sky_small
        water = ndimage.binary_opening(water, structure=np.ones((3, 3), bool))
        water = _keep_water_like_regions(water, sky_small, colour_start)
    return _to_size(sky_small, image.size), _to_size(water, image.size)
