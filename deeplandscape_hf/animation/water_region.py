"""Water below the sky, found without any downloaded weights: the second half of the offline segmenter.

Water has no colour of its own: it takes the sky's, darkened, and mirrors whatever stands on its far shore. What
tells it apart from land is its geometry, in three steps on the small copy that the sky search used:

1. A waterline. Either a straight, level edge inside what the sky search took (a sea horizon: sky and sea have the
   same colours, but nothing in a sky is ruler-straight across the photo), or the level top edge of a smooth surface
   in the sky's hues below the land (a lake's far shore, moved up by the height of the shore's reflection), or,
   when there is neither, the axis about which a wide band below the land mirrors it (mountains in a calm lake),
   pixel by pixel or, where ripples break the image up, in bands of rows averaged down their columns (a shape
   stays in its columns however the water stretches it). Below such an axis the water is followed down, strip by
   strip, as long as it keeps mirroring or continuing the reflection.
2. Nothing below a waterline is sky. Where the sky search ran on past the waterline (a calm lake beside a pier, the
   sea under its horizon), those pixels are the water reflecting the sky, if they have the colours of the sky above
   the line; the rest (the beach in front of the sea) is land. Nor is anything below a straight horizon that has no
   sea under it: a beach, a snowfield or a plain brighter than the sky, or not in its colours, is land.
3. Water mirrors what stands above the waterline: a pixel at depth d below it has, darker and a little blurred, the
   colour of the pixel d rows above it. Pixels that match their mirror image and touch the water found so far join
   it, so a reflected temple or forest is water too, while a bank that mirrors nothing stays land. Ripples stretch a
   reflection and break its shapes, but not its colours: in the columns where water meets the waterline, pixels
   whose colour some land pixel near their mirror row has join as well. And where a breeze roughens one end of a
   lake, its ripples are level streaks: beside the water, in its rows and colours, pixels too rough for calm water
   but not as rough as land, whose brightness changes mostly down the rows, join it. Last, a gap that the water
   surrounds (on three sides where the photo's bottom edge cuts it off) is water when it has the colours of the
   water around it; an island, a boat or a post has colours of its own.

Every step needs a waterline first, so a photo without one gets no water: the safe side, since land that moves is
worse than water that stays still.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["WaterRegions", "find_water", "water_coloured"]

WATER_MAX_TEXTURE = 0.04  # local contrast (the sky search's texture measure) above which a pixel is too rough
SKY_PALETTE_BIN = 0.01  # chromaticity bins of the sky's palette ...
SKY_PALETTE_SHARE = 0.01  # ... a colour is in it when its bin holds this share of the sky's pixels
SKY_HUE_BIN_DEGREES = 10  # hue bins of the sky's hues (mixed with grey in a reflection) ...
SKY_HUE_SHARE = 0.05  # ... a hue is the sky's when its bin holds this share of the sky's coloured pixels ...
SKY_HUE_MIN_SATURATION = 0.03  # ... those whose chromaticity lies at least this far from grey
WATER_CHROMA_TOLERANCE = 0.035  # L1 distance of a water colour's chromaticity from the sky-hue-to-grey segment
SHORE_ROWS = 0.025  # a shore between sky and water is at least this fraction of the height tall
MAX_SHORE_DEPTH = 0.25  # ... and at most this fraction of the height (a far bank, not the foreground) ...
MIRRORED_SHORE_DEPTH = 0.15  # ... and deeper than this, the water mirrors the bank behind it:
DEEP_MIRROR_SHARE = 0.08  # this share of the pixels in the rows under its top mirror shapes above them ...
MIRROR_CHECK_ROWS = 14  # ... over this many rows (at the coarse size)
HORIZON_MARGIN = 0.03  # the sky may reach this fraction of the height below the horizon of the land columns ...
HORIZON_LAND_COLUMNS = 0.3  # ... when at least this share of the columns end at land
LEVEL_BORDER_COLUMNS = 0.2  # ... or where a run of adjacent columns this wide ends on one row (within a row)
PIER_WATER_DEPTH = 0.15  # water beside such a level edge (a pier) reaches at least this fraction of the height down
SEA_HORIZON_SPREAD = 0.015  # the top of water right under the sky is straight within this fraction of the height
WATER_MIN_WIDTH = 0.15  # a water surface spans at least this fraction of the width ...
WATER_MIN_AREA = 0.02  # ... and covers this fraction of the image
WATER_HOLE_AREA = 0.002  # a hole in a water surface up to this fraction of the image is a glint, not an island
GAP_COLOUR_TOLERANCE = 0.05  # a gap of any size in water is water when its mean RGB is this close to the water's ...
GAP_RING_PX = 2  # ... in a ring this wide around it
WATER_TOP_SPREAD = 0.03  # the top edge of water below a shore is level within this fraction of the height ...
WATER_LEVEL_COLUMNS = 0.7  # ... in this share of its columns
SEA_LINE_STEP = 0.03  # a sea horizon is a colour step of at least this much (RGB, across 2 rows) ...
SEA_LINE_COLUMNS = 0.6  # ... in the same direction, in this share of all columns ...
SEA_LINE_MIN_TOP = 0.2  # ... at least this fraction of the height below the top (higher, it is a cloud base) ...
SEA_MIN_ROWS = 0.03  # ... with at least this fraction of the height of sea under it ...
SEA_LINE_CONTRAST = 3.0  # ... and a step this many times the median step of the rows around it ...
SEA_LINE_CONTEXT_ROWS = 12  # ... within this many rows (beyond a blurred horizon's own width)
SEA_LINE_MEDIAN_ROWS = 9  # lines thinner than half this many rows (wires) are no horizon
SEA_MIN_COLOURED = 0.7  # under a sea horizon, this share of the pixels is in water's colours ...
SEA_MIN_SMOOTH = 0.6  # ... and this share smooth
MIRROR_BLUR_PX = 1.5  # both sides are blurred this much before comparing: ripples and JPEG blocks are not shapes
MIRROR_CHROMA_TOLERANCE = 0.04  # L1 chromaticity difference allowed between a pixel and its mirror image ...
MIRROR_DARKENING = (0.3, 1.15)  # ... and the range of its brightness over the mirror image's (water darkens)
FAR_WATER_ROWS = 0.03  # the far edge of a water surface: its top rows, this fraction of the height in each column ...
FAR_WATER_MIN_REFLECTANCE = 0.45  # ... are at least this share of the sky's brightness near the horizon
SKY_NEAR_HORIZON = 0.1  # a water surface is no brighter than the sky this fraction of the height above the land
MIRROR_MIN_BRIGHTNESS = 0.06  # mean RGB below which colours are too dark to compare
MIRROR_WINDOW_PX = 7  # shapes are compared over windows this wide ...
MIRROR_MIN_CORRELATION = 0.5  # ... where the brightness of both sides correlates at least this much ...
MIRROR_FLAT_STD = 0.01  # ... unless both sides are flat (brightness std below this): a smooth sky mirrored
OPEN_WATER_MIN_LIGHT = 0.2  # open water is at least this share of the sky's median brightness (mean RGB)
OPEN_WATER_ROWS = 0.04  # a column with water within this fraction of the height under the waterline is open water
RIPPLE_STRETCH = 0.3  # a rippled reflection at depth d takes colours from within this times d of its mirror row
REFLECTION_BAND = 0.1  # a mirror image is looked for in this fraction of the height under each axis ...
REFLECTION_MIN_SHARE = 0.35  # ... and found when this share of the band's pixels mirror shapes above the axis
MIRROR_AXIS_MATCH = 0.6  # share of the rows above the smooth water that must mirror the bank to move the waterline up
PROFILE_BAND = 0.08  # a rippled reflection is compared with what it mirrors in bands this fraction of the height ...
PROFILE_HIGHPASS_PX = 31  # ... by their column profiles, with trends wider than this many columns taken out ...
PROFILE_MIN_CORRELATION = 0.7  # ... which correlate at least this much, in each third of the band, about the axis ...
PROFILE_MIN_MARGIN = 0.5  # ... and by this much more than the band above the axis correlates with the one above it
PROFILE_SEGMENT = 0.125  # the axis is checked, and the water followed down, in strips this fraction of the width ...
PROFILE_MIN_STRIPS = 0.6  # ... the axis showing a mirror image in this share of them ...
PROFILE_STRIP_CORRELATION = 0.6  # ... and the water going on while its thirds mirror or continue at least this much
FOLLOW_COLOUR_STEP = 0.1  # ... a third that only continues the one above within this of its mean RGB (a boat does not)
PROFILE_AXIS_SLACK = 1  # rows: a strip's mirror image may sit this far off the axis found across the photo
PROFILE_FLAT_STD = 0.02  # std of a profile's log brightness: below it a strip is flat (calm water when smooth) ...
PROFILE_NOISE_STD = 0.01  # ... and below this it is noise, which neither mirrors nor continues anything
RIPPLED_WATER_MAX_TEXTURE = 0.08  # beside water, in its rows, ripples short of land's roughness (the sky search's) ...
RIPPLE_MIN_STREAK = 0.6  # ... where this share of the local change in brightness runs down the rows (level streaks) ...
RIPPLE_WINDOW_PX = 5  # ... over windows this wide
RIPPLES_MIN_LIT = 0.5  # a reflection found by its profiles alone is water when this share of it is lit as open water


@dataclass(frozen=True)
class WaterRegions:
    """Coarse masks (H, W) bool: ``water`` and the ``sky`` left once everything below the waterline is taken out."""

    water: np.ndarray
    sky: np.ndarray


def _rows(height: int) -> np.ndarray:
    return np.arange(height)[:, None]


def _chromaticity(rgb: np.ndarray) -> np.ndarray:
    return rgb / np.maximum(rgb.sum(axis=-1, keepdims=True), 1e-6)


def _straight_horizon(rgb: np.ndarray, sky: np.ndarray, texture: np.ndarray) -> tuple[int | None, str]:
    """The first row under a straight, level colour step that runs through the sky across the photo (None when there
    is none), and what lies under it: "sea", "far shore" (a lake's far bank, maybe with the lake beyond it) or "land"
    (a beach, a snowfield, a plain).

    The sea and the sky above it share their hues, so the sky search takes both; the horizon between them is a
    step in colour that holds in the same direction in almost every column, on one row (within a row either side,
    for a slightly tilted camera and a blurred line), and stands out from the rows around it (a sky that darkens
    evenly towards the zenith changes in every row). Cloud edges are neither that straight nor that long. Under the
    line a sea is smooth from the line down, in the colours of the sky above the line and no brighter than it.
    Anything else there (a beach, a snowfield, a plain the sky search took for sky, a lake's far shore) is land: a
    sky has no ruler-straight edge.
    """
    height, width = sky.shape
    # A running median down the columns first: a wire or a contrail across the sky is a line, not a step, and goes.
    smooth = ndimage.median_filter(rgb, size=(SEA_LINE_MEDIAN_ROWS, 1, 1), mode="nearest")
    smooth = ndimage.gaussian_filter(smooth, sigma=(0.7, 1.5, 0), mode="nearest")
    step = np.zeros_like(smooth)
    step[1:-1] = smooth[2:] - smooth[:-2]  # (H, W, 3): the change from the row above to the row below
    inside = np.zeros_like(sky)
    inside[2:-2] = sky[:-4] & sky[4:]  # the step is measured within the sky region, not at its border
    first = max(SEA_LINE_CONTEXT_ROWS + 2, round(SEA_LINE_MIN_TOP * height))
    last = height - max(SEA_LINE_CONTEXT_ROWS + 2, round(SEA_MIN_ROWS * height))
    best_row, best_share, best_under = None, SEA_LINE_COLUMNS, "land"
    for row in range(first, last):
        columns = inside[row]
        if columns.mean() < SEA_LINE_COLUMNS:
            continue
        direction = np.median(step[row, columns], axis=0)
        if np.abs(direction).max() < SEA_LINE_STEP:
            continue
        unit = direction / np.linalg.norm(direction)
        along = (step[row - 1 : row + 2] @ unit).max(axis=0)  # (W,)
        context = np.concatenate(
            [step[row - SEA_LINE_CONTEXT_ROWS : row - 2], step[row + 3 : row + SEA_LINE_CONTEXT_ROWS + 1]]
        )
        around = np.median(np.abs(context @ unit), axis=0)
        share = float(((along >= SEA_LINE_STEP) & (along >= SEA_LINE_CONTRAST * around) & columns).sum()) / width
        if share <= best_share:
            continue
        sea = np.zeros_like(sky)
        sea[row + 1 :] = sky[row + 1 :] & (np.cumprod(sky[row + 1 :], axis=0) > 0)  # the sky search's pixels under it
        if sea.sum() < SEA_MIN_ROWS * height * width * SEA_LINE_COLUMNS:
            continue
        # The sea's colours are the sky's above the line (the sky search may have taken a beach or a snowfield too).
        above = sky & (_rows(height) <= row)
        # Smooth in most of it: grass stalks in front of a sea roughen a third of it, a field under the line all.
        far_edge = sea & (_rows(height) <= row + max(2, round(SEA_MIN_ROWS * height)))
        like_sea = (
            float((texture[sea] < WATER_MAX_TEXTURE).mean()) >= SEA_MIN_SMOOTH
            and float(water_coloured(rgb, above)[sea].mean()) >= SEA_MIN_COLOURED
            and _lit_like_water(rgb, sea, above & (_rows(height) >= row - SEA_LINE_CONTEXT_ROWS))
        )
        # And smooth right under the line too, where a sea begins: a lake's far shore (a tree line, a town) under a
        # straight horizon is rough there, with the lake's smooth water beyond it.
        if not like_sea:
            under = "land"
        elif float((texture[far_edge] < WATER_MAX_TEXTURE).mean()) < SEA_MIN_SMOOTH:
            under = "far shore"
        else:
            under = "sea"
        best_row, best_share, best_under = row + 1, share, under
    return best_row, best_under


def _lit_like_water(rgb: np.ndarray, surface: np.ndarray, sky_near: np.ndarray) -> bool:
    """Water mirrors the sky, darkened, and its far edge mirrors most of it: light that grazes a calm surface is
    largely reflected. So the top rows of a water surface are at least FAR_WATER_MIN_REFLECTANCE of the sky near the
    horizon (a strip of field or road in shadow is darker), and the surface as a whole is no brighter than that sky
    (a snowfield, sand or a pale plaza in the sun is). Median mean-RGB brightness of ``surface`` against that of
    ``sky_near``."""
    if not sky_near.any():
        return True
    sky_light = float(np.median(rgb[sky_near].mean(axis=-1)))
    far_rows = surface & (np.cumsum(surface, axis=0) <= max(2, round(FAR_WATER_ROWS * surface.shape[0])))
    far_light = float(np.median(rgb[far_rows].mean(axis=-1)))
    light = float(np.median(rgb[surface].mean(axis=-1)))
    return far_light >= FAR_WATER_MIN_REFLECTANCE * sky_light and light <= MIRROR_DARKENING[1] * sky_light


def _above_horizon(sky: np.ndarray) -> np.ndarray:
    """The sky cut at the horizon that the land columns show, when some columns run on far below it.

    Beside a pier or between two shores nothing may separate a calm lake or a foggy one from the sky above it, so
    the border of those columns runs down to the bottom of the photo. Where most columns end at land, or a good share
    of them end on one level line (the top of a pier, a far bank), the sky there cannot reach much lower: the rest is
    offered to the water test (and stays sky if it is not water).
    """
    height = sky.shape[0]
    border = sky.sum(axis=0)
    margin = HORIZON_MARGIN * height
    # A column without sky (a wall or a tree reaching the top of the photo) shows no edge of the land at all.
    has_sky = border > 0
    ends_at_land = has_sky & (border < height - margin)
    level_run = LEVEL_BORDER_COLUMNS * sky.shape[1]
    candidates = []
    if ends_at_land.mean() >= HORIZON_LAND_COLUMNS:
        candidates.append(np.quantile(border[ends_at_land], 0.9) + margin)
    level = [
        row for row in range(int(height - margin)) if _longest_run((np.abs(border - row) <= 1) & has_sky) >= level_run
    ]
    if level:  # the highest straight, level edge of land: the top of a pier, a far bank
        candidates.append(level[0] + margin)
    if not candidates:
        return sky
    capped = sky.copy()
    capped[int(min(candidates)) :] = False
    return capped


def _longest_run(flags: np.ndarray) -> int:
    """Length of the longest run of True in a 1-D boolean array."""
    padded = np.concatenate([[0], flags.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max()) if edges.size else 0


def water_coloured(rgb: np.ndarray, sky: np.ndarray) -> np.ndarray:
    """Colours water takes: the sky's own hues mixed with grey at any brightness (a reflection is darker than what it
    mirrors), blue to cyan, or any colour common in this sky (the orange of a sunset glow), also mixed with grey
    (`_in_sky_hues`). Greens and browns (fields, sand, rivers thick with silt) are left out unless the sky itself has
    them."""
    chroma = _chromaticity(rgb)
    neutral = np.full(3, 1 / 3)
    hue = np.median(chroma[sky], axis=0) - neutral
    along = np.clip((chroma - neutral) @ hue / max(float(hue @ hue), 1e-9), 0.0, 1.6)
    sky_family = np.abs(chroma - (neutral + along[..., None] * hue)).sum(axis=2) <= WATER_CHROMA_TOLERANCE
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    bluish = (blue > red + 0.05) & (blue >= green - 0.05)
    return sky_family | bluish | _in_sky_palette(chroma, sky) | _in_sky_hues(chroma, sky)


def _in_sky_palette(chroma: np.ndarray, sky: np.ndarray) -> np.ndarray:
    """Pixels whose chromaticity is common in the sky: the glow of a sunset, a pink cloud, reflected in the water."""
    bins = np.clip((chroma[..., :2] / SKY_PALETTE_BIN).astype(int), 0, int(1 / SKY_PALETTE_BIN))
    size = int(1 / SKY_PALETTE_BIN) + 1
    counts = np.zeros((size, size))
    np.add.at(counts, (bins[sky][:, 0], bins[sky][:, 1]), 1)
    counts = ndimage.maximum_filter(counts, size=3)  # a reflection's colour may sit in the bin next to the sky's
    return counts[bins[..., 0], bins[..., 1]] >= SKY_PALETTE_SHARE * max(int(sky.sum()), 1)


def _hue_and_saturation(chroma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hue bin and distance from grey of chromaticities, in the plane of equal sums."""
    offset = chroma - 1 / 3
    across = offset @ np.array([2.0, -1.0, -1.0]) / np.sqrt(6)
    up = offset @ np.array([0.0, 1.0, -1.0]) / np.sqrt(2)
    bins = 360 // SKY_HUE_BIN_DEGREES
    hue = (np.degrees(np.arctan2(up, across)) % 360 // SKY_HUE_BIN_DEGREES).astype(int) % bins
    return hue, np.hypot(across, up)


def _in_sky_hues(chroma: np.ndarray, sky: np.ndarray) -> np.ndarray:
    """Pixels in a hue common in the sky, and less saturated than the sky's typical colour of that hue: a reflection
    mixes what it mirrors with grey (the sunset glow mirrored pale in a lake), whichever of the sky's colours that is.
    A sunlit boat or roof in the glow's hue is as saturated as the glow, or more."""
    hue, saturation = _hue_and_saturation(chroma)
    coloured = sky & (saturation >= SKY_HUE_MIN_SATURATION)
    sky_hue, sky_saturation = hue[coloured], saturation[coloured]
    if sky_hue.size == 0:  # a grey sky has no hues to mirror
        return np.zeros(chroma.shape[:2], bool)
    typical = np.zeros(360 // SKY_HUE_BIN_DEGREES)  # 0 where the sky hardly has the hue: nothing passes
    for bin_index in np.flatnonzero(np.bincount(sky_hue, minlength=typical.size) >= SKY_HUE_SHARE * sky_hue.size):
        typical[bin_index] = np.median(sky_saturation[sky_hue == bin_index])
    return saturation < typical[hue]


def _level_surfaces(
    rgb: np.ndarray, smooth: np.ndarray, sky: np.ndarray, texture: np.ndarray, land_edge: np.ndarray, land: np.ndarray
) -> tuple[np.ndarray, int | None]:
    """Smooth, water-coloured regions below the sky that are wide and level on top, and their waterline row.

    Only regions shaped like a water surface survive: wide, and with a level upper edge (a far shore or a sea
    horizon), which keeps out hazy mountains and pale walls. The waterline is the highest top among them.
    ``smooth`` is ``rgb`` blurred for the mirror test, ``land_edge`` (W,) the row where the sky search's own sky
    ended in each column, before `_above_horizon`; ``land`` (H, W) what is known to be land already.
    """
    height, width = sky.shape
    water = np.zeros_like(sky)
    if not sky.any() or sky.all():
        return water, None
    border = sky.sum(axis=0)
    horizon = int(np.median(border))
    below = _rows(height) >= np.maximum(border, horizon)[None, :]
    candidates = below & ~land & (texture < WATER_MAX_TEXTURE) & water_coloured(rgb, sky)
    candidates = ndimage.binary_closing(candidates, structure=np.ones((1, 5), bool))
    candidates = ndimage.binary_opening(candidates, structure=np.ones((3, 3), bool))
    regions, count = ndimage.label(candidates)
    waterline = None
    for index in range(1, count + 1):
        region = regions == index
        columns = np.flatnonzero(region.any(axis=0))
        if region.sum() < WATER_MIN_AREA * region.size or columns.size < WATER_MIN_WIDTH * width:
            continue
        tops = region[:, columns].argmax(axis=0)
        # Right under the sky, only a sea horizon (a straight line) makes a smooth sky-coloured band water: a hazy
        # range of hills has a ridge line (all columns must agree). Below a shore or a tree line, a level far bank is
        # enough, in most columns (posts or grass in front may hide the rest).
        below_a_shore = np.mean(tops >= border[columns] + SHORE_ROWS * height) >= 0.7
        if below_a_shore:
            level = np.mean(np.abs(tops - np.median(tops)) <= WATER_TOP_SPREAD * height) >= WATER_LEVEL_COLUMNS
        else:
            level = np.percentile(tops, 90) - np.percentile(tops, 10) <= SEA_HORIZON_SPREAD * height
            # A top right under the sky is a waterline only if it is seen: a colour step along it, or land beside it
            # ending level just above it (a pier; `_above_horizon` cuts that far below such an edge) with the calm
            # water beside it reaching well down towards the near shore. Otherwise it is where `_above_horizon` cut
            # an even sky: a thin strip of it, with land right under it, is the haze low over a far shore.
            seen = _step_across(rgb, tops, columns) >= SEA_LINE_STEP
            depth = np.median(tops) - land_edge
            pier = _longest_run((depth >= -1) & (depth <= HORIZON_MARGIN * height + 1)) >= LEVEL_BORDER_COLUMNS * width
            rows = np.flatnonzero(region.any(axis=1))
            pier = pier and rows[-1] - rows[0] >= PIER_WATER_DEPTH * height
            level = level and (seen or pier)
        # The far edge of water is seen near the horizon; a smooth strip that starts far below it is foreground.
        shore_depth = np.median(tops - border[columns])
        near_horizon = shore_depth <= MAX_SHORE_DEPTH * height
        top = int(np.median(tops))
        # Deep below the sky, what stands behind the water is a bank, a temple or a skyline, and calm water mirrors
        # it somewhere along the rows under the waterline (not always in this smooth piece: reflections of lit
        # windows are rough); a road under the same grey light mirrors nothing.
        if level and near_horizon and shore_depth > MIRRORED_SHORE_DEPTH * height:
            reach = min(MIRROR_CHECK_ROWS, height - top, top)
            mirrored = _mirrors(smooth, top, shapes_only=True, max_depth=reach)[top : top + reach]
            level = mirrored.mean() >= DEEP_MIRROR_SHARE
        sky_above = sky & (_rows(height) >= border[None, :] - SKY_NEAR_HORIZON * height) & region.any(axis=0)
        if near_horizon and level and _lit_like_water(rgb, region, sky_above):
            water |= _with_small_holes_filled(region)
            waterline = top if waterline is None else min(waterline, top)
    return water, waterline


def _with_small_holes_filled(region: np.ndarray) -> np.ndarray:
    """``region`` with its holes smaller than WATER_HOLE_AREA of the image filled: glints and ripples are water, but
    an island, a boat or a reed bed surrounded by water stays land."""
    holes, _ = ndimage.label(ndimage.binary_fill_holes(region) & ~region)
    sizes = np.bincount(holes.ravel())
    small = sizes <= WATER_HOLE_AREA * region.size
    small[0] = False
    return region | small[holes]


def _step_across(rgb: np.ndarray, tops: np.ndarray, columns: np.ndarray) -> float:
    """Median over ``columns`` of the largest RGB change from two rows above ``tops`` to the row below."""
    above = rgb[np.maximum(tops - 2, 0), columns]
    below = rgb[np.minimum(tops + 1, rgb.shape[0] - 1), columns]
    return float(np.median(np.abs(above - below).max(axis=1)))


def _local_correlation(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correlation of two (H, W) images over MIRROR_WINDOW_PX windows, and the standard deviation of each."""

    def mean(values: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(values, size=MIRROR_WINDOW_PX, mode="nearest")

    mean_first, mean_second = mean(first), mean(second)
    var_first = np.maximum(mean(first * first) - mean_first**2, 0.0)
    var_second = np.maximum(mean(second * second) - mean_second**2, 0.0)
    covariance = mean(first * second) - mean_first * mean_second
    return covariance / np.sqrt(var_first * var_second + 1e-12), np.sqrt(var_first), np.sqrt(var_second)


def _mirrors(smooth: np.ndarray, waterline: int, shapes_only: bool = False, max_depth: int | None = None) -> np.ndarray:
    """(H, W) True below ``waterline`` where a pixel looks like its mirror image above the line (`_alike`).
    ``smooth``: the photo blurred by MIRROR_BLUR_PX; ``max_depth``: rows below the line to test."""
    height = smooth.shape[0]
    depth = np.arange(min(height - waterline, height if max_depth is None else max_depth))
    source = waterline - 1 - depth
    seen = source >= 0  # deeper than the line is high, nothing is mirrored
    result = np.zeros(smooth.shape[:2], bool)
    result[waterline : waterline + int(seen.sum())] = _alike(
        smooth[waterline : waterline + depth.size][seen], smooth[source[seen]], shapes_only
    )
    return result


def _alike(pixels: np.ndarray, reference: np.ndarray, shapes_only: bool) -> np.ndarray:
    """(h, W) where the rows ``pixels`` look like the rows ``reference`` (both (h, W, 3)) as a reflection looks like
    what it mirrors: the same chromaticity, the same or a lower brightness, and the same shapes around it (or no
    shapes on either side, unless ``shapes_only``). Colour alone is not enough: a hazy grey slope has the colours of
    the clouds above it."""
    chroma_step = np.abs(_chromaticity(pixels) - _chromaticity(reference)).sum(axis=-1)
    brightness, reference_brightness = pixels.mean(axis=-1), reference.mean(axis=-1)
    ratio = brightness / np.maximum(reference_brightness, 1e-6)
    correlation, spread, reference_spread = _local_correlation(brightness, reference_brightness)
    flat = (spread < MIRROR_FLAT_STD) & (reference_spread < MIRROR_FLAT_STD)
    shaped = (spread >= MIRROR_FLAT_STD) & (reference_spread >= MIRROR_FLAT_STD)  # a correlation means something
    return (
        (chroma_step <= MIRROR_CHROMA_TOLERANCE)
        & (ratio >= MIRROR_DARKENING[0])
        & (ratio <= MIRROR_DARKENING[1])
        & (np.minimum(brightness, reference_brightness) >= MIRROR_MIN_BRIGHTNESS)
        & ((flat & (not shapes_only)) | (shaped & (correlation >= MIRROR_MIN_CORRELATION)))
    )


def _rippled_reflections(smooth: np.ndarray, waterline: int, sky: np.ndarray, open_water: np.ndarray) -> np.ndarray:
    """(H, W) True below ``waterline`` where a pixel has the colour of some land pixel near its mirror image in the
    same column: ripples stretch and break a reflection up and down, so its shapes no longer match, but its colours
    still come from what stands above it. Only land is looked at above the line (sky-coloured water is found by the
    colour test), and only in the columns where water already meets the waterline (``open_water``, (W,)): a pier or
    a rock standing across the line has its own colours on both sides of it."""
    height = smooth.shape[0]
    chroma, brightness = _chromaticity(smooth), smooth.mean(axis=-1)
    result = np.zeros(smooth.shape[:2], bool)
    for depth in range(height - waterline):
        source = waterline - 1 - depth
        if source < 0:
            break
        reach = max(1, round(RIPPLE_STRETCH * depth))
        rows = slice(max(0, source - reach), min(waterline, source + reach + 1))
        land = ~sky[rows] & (brightness[rows] >= MIRROR_MIN_BRIGHTNESS)  # (k, W)
        row = waterline + depth
        chroma_step = np.abs(chroma[rows] - chroma[row][None]).sum(axis=-1)
        ratio = brightness[row][None] / np.maximum(brightness[rows], 1e-6)
        # Any of a window of pixels may match, so the bound is tighter than the mirror test's: never brighter.
        match = land & (chroma_step <= MIRROR_CHROMA_TOLERANCE) & (ratio >= MIRROR_DARKENING[0]) & (ratio <= 1.0)
        result[row] = match.any(axis=0) & (brightness[row] >= MIRROR_MIN_BRIGHTNESS) & open_water
    return result


def _mirror_axis(smooth: np.ndarray, top: int, sky: np.ndarray) -> int:
    """The waterline itself, given the top row of the smooth water: a far bank is mirrored right under the real
    waterline, so the smooth part starts lower, by the height of the bank's reflection. The axis is the highest row
    above ``top`` whose mirror image explains the shapes in most of the rows down to ``top`` (a smooth sky above
    smooth water would match any axis), in rows that are not ``sky``."""
    height = smooth.shape[0]
    for axis in range(max(1, top - round(MAX_SHORE_DEPTH * height)), top):
        bank = ~sky[axis:top]
        if bank.mean() < 0.5:
            continue
        if _mirrors(smooth, axis, True, top - axis)[axis:top][bank].mean() >= MIRROR_AXIS_MATCH:
            return axis
    return top


def _reflection_line(smooth: np.ndarray, sky: np.ndarray) -> tuple[int | None, np.ndarray]:
    """The axis of a mirror image below the sky (a lake under mountains reflects a ridge, which is not level, so no
    level edge gives its waterline away), and the pixels below it that mirror shapes; (None, nothing) when no axis
    explains a wide band. What is mirrored must be land, not sky, and the axis lies below the sky's border: a fog
    bank is symmetric about its middle too.
    """
    height, width = sky.shape
    border = sky.sum(axis=0)
    band = max(2, round(REFLECTION_BAND * height))
    # Near the axis a pixel is compared with one just a few rows above it, which any smooth texture (a rock face,
    # sand, a blurred foreground) matches as well as a reflection would. So the image is counted from half the band's
    # depth down, where the two are further apart than such a texture stays alike.
    first = band // 2
    land = ~sky
    best_axis, best_share, best = None, REFLECTION_MIN_SHARE, np.zeros_like(sky)
    for axis in range(max(int(np.median(border)), band), height - band):
        matches = _mirrors(smooth, axis, True, band)
        mirrored_land = land[axis - 1 : axis - 1 - band : -1] if axis > band else land[axis - 1 :: -1]
        counted = (matches[axis : axis + len(mirrored_land)] & mirrored_land)[first:]
        share = float(counted.sum()) / ((band - first) * width)
        if share > best_share:
            best_axis, best_share, best = axis, share, matches
    if best_axis is None or np.mean(best[best_axis : best_axis + band].any(axis=0)) < WATER_MIN_WIDTH:
        return None, np.zeros_like(sky)
    # A repeating pattern (rows of windows, a fence) is as like its mirror image as the same rows shifted down by a
    # period; a reflection is flipped, and no shift explains it as well.
    rows = slice(best_axis + first, best_axis + band)
    for shift in range(2, band + 1):
        shifted = slice(rows.start - shift, rows.stop - shift)
        alike = _alike(smooth[rows], smooth[shifted], True) & land[shifted]
        if alike.mean() >= best_share:
            return None, np.zeros_like(sky)
    return best_axis, ndimage.binary_opening(best, structure=np.ones((3, 3), bool))


def _column_profiles(brightness: np.ndarray) -> np.ndarray:
    """(H, W) log brightness with each row's trend over PROFILE_HIGHPASS_PX columns taken out: what is left are the
    shapes a reflection repeats at the same columns (peaks, trees, lit windows), not the light across the photo."""
    log_brightness = np.log(brightness + 0.03)
    return log_brightness - ndimage.uniform_filter1d(log_brightness, PROFILE_HIGHPASS_PX, axis=1, mode="nearest")


def _correlation(first: np.ndarray, second: np.ndarray) -> float:
    return float((first * second).sum() / np.sqrt((first * first).sum() * (second * second).sum() + 1e-12))


def _profile_reflection_axis(profiles: np.ndarray, sky: np.ndarray) -> int | None:
    """The axis of a rippled mirror image: a row below which each third of a band of rows, averaged down its columns,
    repeats the third the same distance above it. Ripples stretch a reflection up and down and break the
    pixel-by-pixel match (`_mirrors`), but leave every shape in its column, so averaged over a few rows the two sides
    still agree.

    Trees, posts and streaks that simply run on down past a row repeat the band above too: so the band right above
    the axis must agree with its mirror image clearly better than with the band above itself. And the image must
    hold across the photo, in most strips of the width, each with shapes of its own (noise on a bare wall correlates
    too), not only where one cable or mast crosses the row. None when no row does; the highest-scoring row otherwise.
    """
    height, width = sky.shape
    band = max(6, round(PROFILE_BAND * height))
    third = band // 3
    strips = _strips(width)

    def mean(first_row: int, last_row: int) -> np.ndarray:
        return profiles[first_row:last_row].mean(axis=0)

    best_axis, best_score = None, -np.inf
    for axis in range(max(2 * band, int(np.median(sky.sum(axis=0)))), height - band):
        pairs = [
            (mean(axis - (k + 1) * third, axis - k * third), mean(axis + k * third, axis + (k + 1) * third))
            for k in range(3)
        ]
        mirrored = np.mean([_correlation(above, below) for above, below in pairs])
        above = mean(axis - band, axis)
        margin = _correlation(above, mean(axis, axis + band)) - _correlation(above, mean(axis - 2 * band, axis - band))
        if mirrored < PROFILE_MIN_CORRELATION or margin < PROFILE_MIN_MARGIN or mirrored + margin <= best_score:
            continue
        strips_mirrored = [
            np.mean([_correlation(above[strip], below[strip]) for above, below in pairs]) >= PROFILE_STRIP_CORRELATION
            and np.mean([above[strip].std() for above, _ in pairs]) >= PROFILE_FLAT_STD  # shapes, not noise
            for strip in strips
        ]
        if np.mean(strips_mirrored) >= PROFILE_MIN_STRIPS:
            best_axis, best_score = axis, mirrored + margin
    return best_axis


def _strips(width: int) -> list[slice]:
    """The columns cut into strips PROFILE_SEGMENT of the width wide (at least 8 columns)."""
    segment = max(8, round(PROFILE_SEGMENT * width))
    return [slice(first, min(width, first + segment)) for first in range(0, width, segment)]


def _repeats(profile: np.ndarray, other: np.ndarray | None) -> bool:
    """Whether ``profile`` repeats the shapes of ``other``. Both must have shapes: noise on flat profiles correlates
    with anything."""
    if other is None or min(profile.std(), other.std()) < PROFILE_NOISE_STD:
        return False
    return _correlation(profile, other) >= PROFILE_STRIP_CORRELATION


def _followed_down(profiles: np.ndarray, rgb: np.ndarray, smooth_water: np.ndarray, waterline: int) -> np.ndarray:
    """(H, W) water below a reflection's axis, followed down strip by strip: a third of a band is water while it
    mirrors the rows the same distance above the line, or continues the streaks of the water above it in its colours
    (a reflection stretched by ripples; the sides of a boat run on down the strip too, in colours of their own), or
    is flat and smooth (calm water far from anything it could mirror). Two thirds in a row that do none of these end
    the strip: a beach, boats or reeds in front of the water."""
    height, width = profiles.shape
    third = max(2, round(PROFILE_BAND * height) // 3)
    water = np.zeros(profiles.shape, bool)
    for columns in _strips(width):
        previous, previous_colour, misses, end = None, None, 0, waterline
        for top in range(waterline, height, third):
            rows = slice(top, min(height, top + third))
            here = profiles[rows, columns].mean(axis=0)
            colour = rgb[rows, columns].mean(axis=(0, 1))
            # The shore is level only within a row or two, so the mirror image is looked for that far either way.
            mirrored = any(
                _repeats(here, profiles[max(0, stop - third) : stop, columns].mean(axis=0))
                for stop in range(
                    2 * waterline - top - PROFILE_AXIS_SLACK, 2 * waterline - top + PROFILE_AXIS_SLACK + 1
                )
                if third <= stop <= waterline
            )
            calm = here.std() < PROFILE_FLAT_STD and smooth_water[rows, columns].mean() >= 0.8
            # Streaks count where the third above was water, or where the strip has none yet (a glitter path from the
            # waterline down): a boat's rim continues its bow, which was no water.
            continues = (
                _repeats(here, previous)
                and (misses == 0 or end == waterline)
                and np.abs(colour - previous_colour).max() <= FOLLOW_COLOUR_STEP
            )
            misses = 0 if (mirrored or continues or calm) else misses + 1
            if misses == 0:
                end = rows.stop
            elif misses >= 2:
                break
            previous, previous_colour = here, colour
        water[waterline:end, columns] = True
    return water


def _streaked(rgb: np.ndarray) -> np.ndarray:
    """Where the brightness changes mostly down the rows: the level streaks of wind on water. The slopes and ridges
    of hazy hills in the water's colours change as much across the rows, and stay out."""
    brightness = rgb.mean(axis=-1)
    down = ndimage.uniform_filter(ndimage.sobel(brightness, axis=0) ** 2, RIPPLE_WINDOW_PX)
    across = ndimage.uniform_filter(ndimage.sobel(brightness, axis=1) ** 2, RIPPLE_WINDOW_PX)
    return down >= RIPPLE_MIN_STREAK * (down + across + 1e-12)


def _gaps_in_the_waters_colours(water: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Gaps that the water surrounds (on three sides where the photo's bottom edge cuts them off) and that have the
    colours of the water around them: rougher ripples than any rule above took, where an island, a boat or a post
    has colours of its own."""
    framed = np.vstack([water, np.ones((1, water.shape[1]), bool)])  # the water runs on past the bottom edge
    gaps = ndimage.binary_fill_holes(framed)[:-1] & ~water
    pieces, _ = ndimage.label(gaps)
    filled = np.zeros_like(water)
    for index, box in enumerate(ndimage.find_objects(pieces), start=1):
        rows, columns = (slice(max(0, extent.start - GAP_RING_PX), extent.stop + GAP_RING_PX) for extent in box)
        piece = pieces[rows, columns] == index
        ring = ndimage.binary_dilation(piece, iterations=GAP_RING_PX) & water[rows, columns]
        if not ring.any():
            continue
        step = np.abs(rgb[rows, columns][piece].mean(axis=0) - rgb[rows, columns][ring].mean(axis=0)).max()
        if step <= GAP_COLOUR_TOLERANCE:
            filled[rows, columns] |= piece
    return filled


def _joined(water: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``water`` and the pieces of ``candidates`` that touch it."""
    pieces, _ = ndimage.label(water | candidates)
    touching = np.unique(pieces[water & (pieces > 0)])
    return np.isin(pieces, touching[touching > 0])


def find_water(rgb: np.ndarray, sky: np.ndarray, texture: np.ndarray) -> WaterRegions:
    """Water and the remaining sky at the coarse size. ``rgb`` (H, W, 3) in [0, 1], ``sky`` the sky search's mask,
    ``texture`` its local contrast."""
    if not sky.any():  # every cue for water (its colours, a waterline, a mirror image) is taken from the sky
        return WaterRegions(water=np.zeros_like(sky), sky=sky)
    sea_line, under = _straight_horizon(rgb, sky, texture)
    judged_land = np.zeros_like(sky)
    if sea_line is not None and under != "sea":  # land under a straight horizon
        if under == "land":  # a beach or a plain, judged as a whole: no smooth patch of it is a lake either
            judged_land = sky & (_rows(sky.shape[0]) >= sea_line)
        sky, sea_line = sky & (_rows(sky.shape[0]) < sea_line), None
    searched = sky.copy()
    if sea_line is not None:
        searched[sea_line:] = False
    searched = _above_horizon(searched)
    smooth = ndimage.gaussian_filter(rgb, sigma=(MIRROR_BLUR_PX, MIRROR_BLUR_PX, 0), mode="nearest")
    water, waterline = _level_surfaces(rgb, smooth, searched, texture, land_edge=sky.sum(axis=0), land=judged_land)
    if waterline is not None:  # a far bank: its reflection lies between the real waterline and the smooth water
        waterline = _mirror_axis(smooth, waterline, searched)
    if sea_line is not None:  # a sea horizon is the waterline itself
        waterline = sea_line if waterline is None else min(waterline, sea_line)
    if waterline is None:
        waterline, water = _reflection_line(smooth, sky)
    profiles = _column_profiles(rgb.mean(axis=-1))
    only_ripples = waterline is None
    if only_ripples:
        waterline = _profile_reflection_axis(profiles, sky)
    if waterline is None:
        return WaterRegions(water=water, sky=sky)
    below = _rows(sky.shape[0]) >= waterline
    # Water takes the colours of the sky above the waterline. Below it, the sky search may also have run on over a
    # beach or a snowfield (cream and white are cloud colours), which are not in them and stay land.
    sky_above = sky & ~below
    sky_above = sky_above if sky_above.any() else sky
    in_water_colours = water_coloured(rgb, sky_above)
    # Open water mirrors the sky, darkened, but not to black: a shadowed foreground in the sky's hue is not water.
    lit = rgb.mean(axis=-1) >= OPEN_WATER_MIN_LIGHT * float(np.median(rgb[sky_above].mean(axis=-1)))
    smooth_water = (texture < WATER_MAX_TEXTURE) & in_water_colours & lit
    followed = _followed_down(profiles, rgb, smooth_water, waterline)
    if only_ripples:  # nothing but the followed strips shows water yet: they are what the rest joins
        # The stalks of a meadow in shade can repeat down their columns about a row as a reflection's ripples do; but
        # open water mirrors a lit sky and bank, and is not that dark.
        if followed.any() and lit[followed].mean() < RIPPLES_MIN_LIT:
            return WaterRegions(water=water, sky=sky)
        water = followed
    water |= sky & below & in_water_colours
    # Reflections, and smooth water-coloured pixels, join the water they touch: on their own, the mirror test would
    # also accept a lawn below a green hill and the colour test a grey road.
    water = _joined(water, (_mirrors(smooth, waterline) | smooth_water) & below)
    # Then rippled reflections, in the columns where water now meets the waterline.
    open_water = water[waterline : waterline + max(3, round(OPEN_WATER_ROWS * sky.shape[0]))].any(axis=0)
    water = _joined(water, _rippled_reflections(smooth, waterline, sky, open_water))
    water = _joined(water, followed)  # and the strips in which the reflection goes on down
    # A breeze roughens one end of a lake past calm water's texture: level streaks in the water's rows join it.
    if water.any():
        rows = np.flatnonzero(water.any(axis=1))
        in_rows = np.zeros_like(water)
        in_rows[rows[0] : rows[-1] + 1] = True
        rippled = (texture < RIPPLED_WATER_MAX_TEXTURE) & _streaked(rgb)
        water = _joined(water, in_rows & below & in_water_colours & lit & rippled)
    # Ripples break a reflection into speckles: close the gaps between them, then drop what stays isolated.
    water = ndimage.binary_closing(water, structure=np.ones((5, 5), bool), border_value=1) & below
    water = ndimage.binary_opening(water, structure=np.ones((3, 3), bool)) | (water & sky)
    water |= _gaps_in_the_waters_colours(water, rgb)
    return WaterRegions(water=water, sky=sky & ~below & ~water)
