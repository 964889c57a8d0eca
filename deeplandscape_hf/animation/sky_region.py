"""Sky and water as regions, found without any downloaded weights: the offline segmenter.

Why a region and not a colour: a cloud can be white, grey, near black or orange, so no colour rule finds all of them.
What clouds share with the sky around them is where they are (above the land, in one piece with the rest of the
sky). So the sky is found as a per-column border, the row in each column above which everything is sky, chosen to
separate sky colours above from land colours below (the classical sky-region formulation), in these steps:

1. Costs, on a small copy: per pixel, how much more it looks like land than like sky. The sky's colours are those
   of the clear sky at the top of the photo, above any ridge that reaches in there (and of the sky joined to it
   without any edge), plus every colour a cloud in that sky can have: its hues mixed with grey, at any brightness
   but far darker than the sky. The land's colours are those of the rough pixels below the border, mixed with "any
   colour" (unknown colours lean to land).
   Texture adds cost: the sky is smooth at this scale, foliage and rock are not. In a photo against the light, whose
   land is a black silhouette outlined against a lit sky, everything lit above the silhouette leans to sky, whatever
   its colours: a sunset's dark clouds are warm grey and orange, colours the clear sky at the top does not show.
2. The border: dynamic programming over the columns finds the cheapest border, with a cost per row of jump between
   neighbouring columns (capped: towers have vertical sides) and a reward for lying on a strong vertical gradient.
   A level band of clear land across the photo (a tree line, a ridge, a shore) ends the sky in its columns, also
   across a short stretch where it thins but still leans to land. The land model is refitted to the new border,
   three times. Where the border then rises as a narrow tower in the colours of the sky beside it (sunset glow
   between two clouds), the tower is sky.
3. Objects standing in the sky (cables, masts, kites) are cut out: pieces between sharp edges that are thin, or
   small and not cloud-coloured, and whose colour differs from the sky around them; thin pieces in the sky's hues
   away from anything but sky, and not long straight bands, are the blue between a cumulus's puffs and stay. So is
   a hazy ridge behind its skyline cut out: a piece cut off from the open sky by a sharp edge above it, resting on
   the land, and darker than the sky across that edge (a cloud resting on a ridge is brighter than the sky above it).
   Against the light, things standing in the sky are dark: a piece lit brighter than the sky around it stays.
4. The border is refined against the photo with a guided filter, so it follows roofs and ridges at a finer scale.
5. Water, below the sky (`water_region`): found from a waterline (a sea horizon, a level far shore or the axis of a
   mirror image), what lies below it and what mirrors the land above it. What stands in the water stays still: a
   reed bed, and stalks or posts crossing it in colours water cannot take. Where no water lies under the sky and
   its border lies on no edge, with none below it either, the land fades into fog lying on it: the sky ends higher
   up, at the tree line or ridge that shows through the fog as a level step down from the sky, and at that line
   continued where the fog rises over it and hides it.

Everything is conservative: a photo whose sky and land cannot be told apart (fog, night, no contrast, a top of
leaves, or of trunks in a photo without colour) gets no movable pixels and an uncertainty sentence, and the
confidence map is low along every border. A black-and-white or toned photo keeps its sky but no water (water is
told by the sky's colours), with a sentence saying so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from .images import luma as _luma
from .water_region import find_water, water_coloured

__all__ = ["SkyRegions", "find_sky_regions"]

COARSE_SIDE_PX = 256  # the border search runs on a copy this long: texture is measured at a known scale, and it is fast
FINE_SIDE_PX = 768  # the refinement and the object cuts run at this size (larger photos shrunk, smaller enlarged)
MIN_WORKING_SIDE_PX = 16  # a strip narrower than this at the coarse size (over 16:1) shows too little to tell apart
HISTOGRAM_BINS = 16  # per RGB channel
REFIT_ROUNDS = 3  # border searches, each with the land model refitted to the border before
JUMP_COST = 0.35  # per row of border jump between neighbouring columns (in units of one pixel's colour cost)
MAX_JUMP_COST_ROWS = 12  # jumps longer than this cost the same: buildings and towers have vertical sides
EDGE_REWARD = 3.0  # a border on a strong vertical gradient is preferred by up to this many pixels' cost
SEED_BAND = 0.06  # the top rows, this fraction of the height, show the clear sky's colours ...
FOLIAGE_HUES = (65.0, 170.0)  # ... unless they are foliage: hues (degrees) from yellow-green to green ...
FOLIAGE_MIN_SATURATION = 0.25  # ... at least this saturated (HSV); when they cover this share of the top rows,
FOLIAGE_TOP_SHARE = 0.5  # the photo is of a forest or a meadow close up, and nothing is sky
SKY_TOP_MIN_SHARE = 0.15  # a top band with less clear sky or white cloud than this ...
WHITE_CLOUD_MAX_SATURATION = 0.15  # (white cloud: at most this saturated (HSV) and at least SUNLIT_MIN_BRIGHTNESS) ...
LAND_TOP_MIN_SATURATION = 0.2  # ... and this saturated (HSV, median) is land: nothing is sky
SHADED_EARTH_HUES = (30.0, 65.0)  # dark and saturated orange to olive (grass and leaves in shade, soil, bark) ...
SHADED_EARTH_MIN_SATURATION = 0.5  # ... at least this saturated ...
SHADED_EARTH_MAX_VALUE = 0.45  # ... and this dark (HSV value) is no sky's colour either
LAND_TEXTURE = 0.08  # `_texture` this rough is land, below a skyline in the top band or across the top rows of a
# photo without colour: forests measure 0.15, a rock face 0.085, the roughest cloudy sky 0.044
SKYLINE_SIDE_ROWS = 3  # a skyline's two sides are compared over this many rows (at the coarse size)
COLOURLESS_SPREAD = 0.01  # L1 chromaticity by which 90 % of a black-and-white or toned photo's pixels keep to the
# usual colour of their brightness (0 in black and white, 0.0009 in sepia, 0.028 in the greyest colour photo seen)
CLOUD_DARKER_BY = 0.15  # clouds are at most this much darker (mean RGB) than the darkest tenth of the clear sky ...
CLOUD_MIN_BRIGHTNESS = 0.15  # mean RGB: darker colours are not in the cloud prior
SUNLIT_HUE = (0.36, 0.335, 0.305)  # chromaticity (r, g, b sum to 1) of a cloud lit by a low sun ...
SUNLIT_MIN_BRIGHTNESS = 0.6  # ... which is in the cloud prior at this mean RGB or brighter
CLOUD_CHROMA_TOLERANCE = 0.035  # L1 distance of a cloud colour's chromaticity from the sky-hue-to-grey segment
BROAD_WEIGHT = 0.15  # share of the land colour model given to every colour alike
LAND_BAND = 0.03  # a run of land this fraction of the height tall ends the sky in its column ...
LAND_BAND_WIDTH = 0.15  # ... and the band spans this fraction of the width
LAND_BAND_MAX_SLOPE = 0.25  # ... and runs within this slope of level (rows per column)
LAND_BAND_GAP = 0.035  # a band goes on across a stretch up to twice this fraction of the width where it thins
LAND_COST = 2.0  # ... when every pixel in it costs at least this much as sky
HAZE_STEP = 0.04  # a border with a smaller colour step across it (rows averaged in threes) lies on no edge ...
HAZE_BELOW_STEP = 0.06  # ... and with no larger step in the rows under it (a tenth of the height) ends in haze
HAZE_REACH = 0.35  # a skyline showing through the haze is looked for this fraction of the height above the border ...
HAZE_SKYLINE_STEP = 0.08  # ... as the largest step there, at least this large ...
HAZE_SKYLINE_WIDTH = 0.15  # ... in a run of adjacent columns this fraction of the width, within 3 rows of each other
TOWER_MAX_WIDTH = 0.08  # the border rising for at most this fraction of the width ...
TOWER_MIN_RISE = 0.05  # ... by this fraction of the height outlines a tower ...
TOWER_SKY_LIKENESS = 0.25  # ... unless its colour is this much closer to the sky beside it than to the land under it
MIN_EVIDENCE = 0.02  # share of the pixels a colour model needs before it is trusted fully
CONTRAST_FLOOR = 0.1  # added to the mean brightness when measuring contrast: noise in black areas is not texture
SKY_CONTINUITY_GRADIENT = 0.015  # paths of clear sky never cross a gradient this strong (RGB per pixel) ...
SKY_CONTINUITY_MIN_LIGHT = 0.5  # ... nor fall below this share of the darkest tenth of the top rows' brightness
PRIOR_WEIGHT = 0.5  # share of the sky colour model given to the colours clouds can have
WRAPPED_COLUMNS = 0.8  # a piece with clear sky right above and below it, in its column, for this share of its pixels
WRAPPED_MIN_PIXELS = 4  # ... and at least this many pixels (at the coarse size) lies in the sky: a cloud
CLEAR_SKY_BONUS = 1.0  # cost taken off the pixels of a smooth piece joined to the top that is sky-coloured on the whole
SILHOUETTE_DARK = 0.2  # against the light, the land is a silhouette: at most this share of the upper half's luma ...
SILHOUETTE_BOTTOM = 0.05  # ... in the bottom rows (this fraction of the height) ...
SILHOUETTE_BOTTOM_SHARE = 0.9  # ... across this share of their pixels ...
SILHOUETTE_BLACK = 0.05  # ... black on the whole: median luma at most this share of the upper half's (not shade) ...
SILHOUETTE_RIM = 0.03  # ... and its outline stands against light: of the rows this fraction of the height above it ...
SILHOUETTE_RIM_LIT = 0.5  # ... this share is lit ...
SILHOUETTE_LIT = 0.34  # ... at least this share of the upper half's luma
SILHOUETTE_LEVEL_SHARE = 0.9  # an outline on one row (within a row) in this share of the columns is a bar, not land
TEXTURE_WEIGHT = 0.7  # cost per unit of log texture above smooth
CLOUD_TEXTURE_SHARE = 0.5  # share of the texture cost kept for cloud-coloured pixels
SMOOTH_TEXTURE = 0.02  # local contrast (`_texture`, at the coarse size) of a smooth sky; above it, pixels look rough
DARK_SKY_LUMA = 0.12  # a sky darker than this on average (night, deep dusk) is not trusted
MIN_PHOTO_CONTRAST = 0.03  # std of the brightness over the whole photo below which nothing can be told apart
MIN_BORDER_CONTRAST = 0.015  # median RGB step across the border needed to trust it (fog, haze below this)
OBJECT_MAX_FRACTION = 0.02  # an object cut out of the sky covers at most this fraction of the image ...
OBJECT_WIDTH = 0.02  # ... or is at most this fraction of the short side across (cables, masts, stalks)
CLOUD_MAX_SATURATION = 0.2  # a piece this unsaturated (HSV) or less may be a cloud, however dark
OBJECT_COLOUR_STEP = 0.08  # an object's mean colour differs from the sky's by this much in some RGB channel
OBJECT_MIN_ASPECT = 4.0  # a thin piece in the sky's hues is a cable or a mast only if this much longer than wide
SHARP_EDGE = 0.06  # gradient magnitude (RGB per pixel) of an edge sharp enough to bound an object
CHAIN_MAX_RATIO = 4.0  # a chain of sharp edges goes with the objects it touches unless this many times their size
CLOUD_OUTLINE_MIN_SHARE = 0.005  # ... and, in sky colours, winding and at least this share of the image: a cloud's rim
RIM_DARKER_BY = 0.02  # a cloud's rim is mostly no darker than this (luma) below the darkest sky beside it ...
RIM_CONTRAST = 0.1  # ... and parts sky bodies this different in luma (the cloud's white, the sky's blue) ...
RIM_MIN_SHARE = 0.2  # ... along at least this share of its pixels
OUTLINED_OBJECT_MIN_PX = 10  # a speck smaller than this (at the working size) takes no chain of sharp edges with it
STALK_REACH_PX = 2  # a stalk in water is darker than the water this many pixels (at the fine size) either side ...
STALK_STEP = 0.03  # ... by this much (luma) ...
STALK_RUN_PX = 7  # ... over an upright run this long; where such strokes cover ...
STALK_DENSITY = 0.06  # ... this share of a window ...
STALK_WINDOW_PX = 31  # ... this wide ...
STALK_MIN_COUNT = 8  # ... and this many stand together, they are a reed bed
STALK_FRINGE_DENSITY = 0.02  # a bed goes on where its strokes thin out to this share of a window (its sparse fringe)
STROKE_MIN_HEIGHT = 0.03  # a stalk in front of the water spans this fraction of the short side in height ...
STROKE_MIN_ASPECT = 2.0  # ... is this many times taller than it is thick ...
STROKE_MIN_UNLIKE = 0.25  # ... has this share of its pixels in colours water cannot take ...
STROKE_HALO_PX = 1  # ... and keeps this many pixels of its blurred edge still with it (at the fine size)
SKYLINE_REACH_PX = 6  # a skyline's two sides are compared over this many pixels (at the fine size) either side
FRAME_MAX_SHARE = 0.25  # a frame around the photo takes at most this share of the height (or width) on each side ...
FRAME_MIN_LINES = 2  # ... at least this many lines (at the fine size) ...
FRAME_LINE_STD = 0.02  # ... each flat (RGB std along the line at most this) ...
FRAME_COLOUR_STEP = 0.03  # ... and within this of the outermost line's colour, on both sides alike ...
FRAME_EDGE_STEP = 0.1  # ... and, on one side at least, a line differs from the frame by this much on average (RGB)
FRAME_EDGE_LINES = 3  # ... within this many lines after the flat ones (JPEG ringing, a blurred edge)


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


def _resized(image: Image.Image, long_side: int, enlarge: bool = False) -> np.ndarray:
    """``image`` as RGB floats, shrunk to ``long_side`` if longer (and, with ``enlarge``, enlarged if shorter)."""
    scale = long_side / max(image.size)
    if scale < 1 or (enlarge and scale > 1):
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR if scale < 1 else Image.Resampling.BICUBIC)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def _gradient(rgb: np.ndarray, sigma: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """(magnitude, vertical component) of the colour gradient: the largest over the channels, per pixel."""
    smooth = ndimage.gaussian_filter(rgb, sigma=(sigma, sigma, 0), mode="nearest")
    gy = np.abs(ndimage.sobel(smooth, axis=0, mode="nearest")).max(axis=2) / 4.0
    gx = np.abs(ndimage.sobel(smooth, axis=1, mode="nearest")).max(axis=2) / 4.0
    return np.hypot(gx, gy), gy


def _texture(rgb: np.ndarray, window: int = 5) -> np.ndarray:
    """Local contrast (luma std over mean), then weighted by how much of a wider window is rough: foliage, rock and
    roofs stay rough, while the thin rough line along a cloud's edge (a few pixels wide) is diluted by the smooth
    cloud and sky around it. Dividing by the brightness keeps dark land in shadow rough."""
    luma = _luma(rgb)
    mean = ndimage.uniform_filter(luma, size=window, mode="nearest")
    mean_sq = ndimage.uniform_filter(luma * luma, size=window, mode="nearest")
    local = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0)) / (mean + CONTRAST_FLOOR)
    rough_share = ndimage.uniform_filter((local > SMOOTH_TEXTURE).astype(np.float32), size=2 * window + 1)
    return local * rough_share


def _bins(rgb: np.ndarray) -> np.ndarray:
    quantised = np.minimum((rgb * HISTOGRAM_BINS).astype(np.int32), HISTOGRAM_BINS - 1)
    return (quantised[..., 0] * HISTOGRAM_BINS + quantised[..., 1]) * HISTOGRAM_BINS + quantised[..., 2]


def _histogram(
    bins: np.ndarray, weights: np.ndarray, prior: np.ndarray | None = None, broad: bool = False
) -> np.ndarray:
    """A smoothed, normalised colour histogram: neighbouring colours share evidence, unseen colours keep a floor.

    ``prior`` (a normalised histogram) is mixed in with PRIOR_WEIGHT of the total.
    ``broad``: also give BROAD_WEIGHT to every colour alike. The ground model is broad: the ground is everything that
    is not sky, so a colour seen nowhere yet is more likely land than sky, and the segmenter stays conservative.
    """
    counts = np.bincount(bins.ravel(), weights=weights.ravel().astype(np.float64), minlength=HISTOGRAM_BINS**3)
    counts = ndimage.gaussian_filter(counts.reshape((HISTOGRAM_BINS,) * 3), sigma=1.0, mode="constant")
    # Little evidence (a few rough pixels) must not make a sharp model: it is blended with "any colour" in proportion.
    evidence = min(1.0, float(counts.sum()) / (MIN_EVIDENCE * bins.size))
    model = evidence * counts / max(counts.sum(), 1e-9) + (1 - evidence) / counts.size
    uniform = np.full_like(model, 1.0 / model.size) if broad else None
    for extra, weight in ((prior, PRIOR_WEIGHT), (uniform, BROAD_WEIGHT)):
        if extra is not None:
            model = (1 - weight) * model + weight * extra
    return model + 1e-4 / model.size


def _cloud_prior(sky_rgb: np.ndarray) -> np.ndarray:
    """Colours a cloud in this sky can have: mixtures of the clear sky's hues with grey, from white down to a little
    darker than the clear sky, equally likely. White and grey clouds are colourless; thin or sunlit ones keep some of
    the sky's hue (bluish at noon, orange at sunset), and a sky gets a little deeper towards the horizon or the
    zenith, so the mixtures run a bit past the hue itself. Bright cream is in it under any sky: cloud tops lit by a
    low sun. ``sky_rgb``: (N, 3) pixels of clear sky."""
    levels = (np.arange(HISTOGRAM_BINS) + 0.5) / HISTOGRAM_BINS
    centres = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    chroma = centres / centres.sum(axis=1, keepdims=True)
    neutral = np.full(3, 1 / 3)
    hues = sky_rgb / np.maximum(sky_rgb.sum(axis=1, keepdims=True), 1e-6)
    hues = np.quantile(hues, np.linspace(0.05, 0.95, 7), axis=0) if len(hues) else neutral[None]

    def near_hue(hue: np.ndarray) -> np.ndarray:
        direction = hue - neutral
        along = np.clip((chroma - neutral) @ direction / max(float(direction @ direction), 1e-9), 0.0, 1.6)
        return np.abs(chroma - (neutral + along[:, None] * direction)).sum(axis=1) <= CLOUD_CHROMA_TOLERANCE

    near = np.zeros(len(centres), bool)
    for hue in hues:
        near |= near_hue(hue)
    # Sunlit cloud tops are cream whatever the sky's hue: the sun's light is warmer than the sky's. Only bright ones:
    # a darker cream is sand or stone.
    near |= near_hue(np.asarray(SUNLIT_HUE)) & (centres.mean(axis=1) >= SUNLIT_MIN_BRIGHTNESS)
    # A cloud may be a little darker than any clear sky seen (a grey underside), but much darker colours are far more
    # often a mountain in haze or shade on the land.
    darkest = float(np.quantile(sky_rgb.mean(axis=1), 0.1)) if len(sky_rgb) else 0.0
    bright_enough = centres.mean(axis=1) >= max(CLOUD_MIN_BRIGHTNESS, darkest - CLOUD_DARKER_BY)
    prior = (near & bright_enough).astype(np.float64).reshape((HISTOGRAM_BINS,) * 3)
    prior = ndimage.gaussian_filter(prior, sigma=0.7, mode="constant")
    return prior / max(prior.sum(), 1e-9)


# ----------------------------------------------------------------------------------------------------------------------
# The border


def _below(border: np.ndarray, height: int) -> np.ndarray:
    """(H, W) True at and below each column's border row (border = number of sky rows in that column)."""
    return np.arange(height)[:, None] >= border[None, :]


def _smoothly_connected(rgb: np.ndarray, magnitude: np.ndarray, seeds: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """Pixels joined to ``seeds`` by paths without any edge: a sky that darkens or pales towards the horizon. The
    paths never run through pixels as rough as land (LAND_TEXTURE): where the top rows are land (a photo cut below
    the sky), a flood through them would reach the smooth parts of the land, a lake or a snowfield, and teach the sky
    model their colours. Nor through pixels far darker than the darkest of the seeds (SKY_CONTINUITY_MIN_LIGHT):
    dark hills in shade, smooth and without an edge where they fade into a grey sky, are no sky that darkens."""
    if not seeds.any():
        return np.zeros_like(seeds)
    # A noisy sky (JPEG, grain) has gradients everywhere: the threshold is the larger of a fixed step and twice the
    # typical gradient among the seeds.
    threshold = max(SKY_CONTINUITY_GRADIENT, 2.0 * float(np.median(magnitude[seeds])))
    brightness = rgb.mean(axis=-1)
    darkest = float(np.quantile(brightness[seeds], 0.1))
    passable = (magnitude < threshold) & (texture < LAND_TEXTURE) & (brightness >= SKY_CONTINUITY_MIN_LIGHT * darkest)
    regions, _ = ndimage.label(passable)
    reached = np.unique(regions[seeds & (regions > 0)])
    return np.isin(regions, reached[reached > 0])


def _seed_rows(rgb: np.ndarray, magnitude: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """Per column, how many top rows show the clear sky's colours: the top band (SEED_BAND of the height), down to
    the first skyline in it. A ridge or a roof that reaches into the band would otherwise lend the sky model its
    colours, and through them the whole mountain would move. A skyline is a sharp edge (SHARP_EDGE) between smooth
    pixels above it and darker ones as rough as land below it; under a cloud's edge lies smooth sky or cloud."""
    height = rgb.shape[0]
    band = max(1, round(SEED_BAND * height))
    reach = SKYLINE_SIDE_ROWS
    luma = np.pad(_luma(rgb), ((reach, reach), (0, 0)), mode="edge")
    roughness = np.pad(texture, ((reach, reach), (0, 0)), mode="edge")
    skylines = np.zeros((band, rgb.shape[1]), bool)
    for row in range(band):  # rows row - reach .. row - 1 lie above, row + 1 .. row + reach below (padded: + reach)
        above, below = slice(row, row + reach), slice(row + reach + 1, row + 2 * reach + 1)
        skylines[row] = (
            (magnitude[row] > SHARP_EDGE)
            & (roughness[above].mean(axis=0) <= SMOOTH_TEXTURE)
            & (roughness[below].mean(axis=0) > LAND_TEXTURE)
            & (luma[below].mean(axis=0) < luma[above].mean(axis=0))
        )
    return np.where(skylines.any(axis=0), skylines.argmax(axis=0), band)


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hue in degrees, saturation, value) of an (H, W, 3) RGB image in [0, 1]."""
    value = rgb.max(axis=-1)
    saturation = (value - rgb.min(axis=-1)) / np.maximum(value, 1e-6)
    hue = np.asarray(Image.fromarray((rgb * 255).round().astype(np.uint8)).convert("HSV"))[..., 0] * (360 / 255)
    return hue, saturation, value


def _shaded_earth(hue: np.ndarray, saturation: np.ndarray, value: np.ndarray) -> np.ndarray:
    """(H, W) True on a dark, saturated orange to olive (`_hsv` of the image): backlit grass in its own shade, soil,
    bark. A sky that dark is blue or grey, and a sunset's dark clouds are redder or greyer: no labelled sky has a
    pixel of it."""
    return (
        (hue >= SHADED_EARTH_HUES[0])
        & (hue <= SHADED_EARTH_HUES[1])
        & (saturation >= SHADED_EARTH_MIN_SATURATION)
        & (value <= SHADED_EARTH_MAX_VALUE)
    )


def _may_be_sky(rgb: np.ndarray) -> np.ndarray:
    """(H, W) False where a colour is foliage, a saturated green or yellow-green that no sky has (a hazy sky over
    tea gardens is greenish but nearly grey), or shaded earth (`_shaded_earth`). The top of a photo of grass, leaves
    or a forest is not a clear sky, and such colours do not teach the sky model even where they are smoothly joined
    to the top (a blurred meadow under a glare)."""
    hue, saturation, value = _hsv(rgb)
    foliage = (hue >= FOLIAGE_HUES[0]) & (hue <= FOLIAGE_HUES[1]) & (saturation >= FOLIAGE_MIN_SATURATION)
    return ~(foliage | _shaded_earth(hue, saturation, value))


def _sky_costs(
    rgb: np.ndarray,
    bins: np.ndarray,
    texture: np.ndarray,
    magnitude: np.ndarray,
    border: np.ndarray,
    seed_rows: np.ndarray,
    backlit: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the cost of calling it sky minus the cost of calling it ground (negative = sky-like), and the
    pieces that the clear sky wraps round (`_wrapped_by_clear_sky`).

    The sky model is what the clear sky at the top of the columns looks like (``seed_rows`` per column,
    `_seed_rows`), plus every colour a cloud in that sky can have (`_cloud_prior`); it is not refitted to the pixels
    the border encloses, so a hazy mountain once taken for sky cannot teach the model to keep it. The ground model
    is broad (any colour may be land) plus the colours of the rough pixels below the current border. Rough pixels
    also cost more as sky, and the clear sky's own smooth pieces less, as do the ``backlit`` pixels
    (`_lit_above_silhouette`).
    """
    height = rgb.shape[0]
    roughness = _roughness(texture)
    clear_sky = _clear_sky(rgb, magnitude, texture, np.minimum(border, seed_rows))
    clouds = _cloud_prior(rgb[clear_sky > 0.5])
    sky_model = _histogram(bins, clear_sky, prior=clouds)
    ground_model = _histogram(bins, roughness * _below(border, height), broad=True)
    colour = np.log(ground_model.ravel()[bins]) - np.log(sky_model.ravel()[bins])
    rough = TEXTURE_WEIGHT * np.clip(np.log(np.maximum(texture, 1e-4) / SMOOTH_TEXTURE), 0.0, 2.0)
    rough *= np.where(clouds.ravel()[bins] > 0, CLOUD_TEXTURE_SHARE, 1.0)  # cumulus are lumpy: texture counts less
    colour = np.clip(colour, -4.0, 4.0)
    colour = np.where(backlit, np.minimum(colour, -CLEAR_SKY_BONUS), colour)
    # A dark storm cloud can have the colours of the road below it, but it lies in one smooth piece with the clear
    # sky, and the road does not. Such a piece leans to sky as a whole when it is sky-coloured on the whole; a smooth
    # wall or rock that reaches the top of the photo is a piece of its own, in land colours, and gets nothing.
    pieces, count = ndimage.label(clear_sky > 0.5)
    sizes = np.bincount(pieces.ravel(), minlength=count + 1)
    sky_coloured = _piece_means(colour, pieces, sizes) < 0
    sky_coloured[0] = False
    return colour - CLEAR_SKY_BONUS * sky_coloured[pieces] + rough, _wrapped_by_clear_sky(clear_sky > 0.5)


def _roughness(texture: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1]: zero on pixels as smooth as a clear sky (SMOOTH_TEXTURE), however many, one from three times
    that roughness."""
    return np.clip(texture / SMOOTH_TEXTURE - 1.0, 0.0, 2.0) / 2.0


def _clear_sky(rgb: np.ndarray, magnitude: np.ndarray, texture: np.ndarray, top_rows: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1]: how much each pixel looks like clear sky: in its column's ``top_rows`` or smoothly joined to
    them (`_smoothly_connected`), as smooth as a sky (`_roughness`), and in a colour a sky may have (`_may_be_sky`)."""
    top = np.arange(rgb.shape[0])[:, None] < top_rows[None, :]
    return (top | _smoothly_connected(rgb, magnitude, top, texture)) * (1.0 - _roughness(texture)) * _may_be_sky(rgb)


def _wrapped_by_clear_sky(clear_sky: np.ndarray) -> np.ndarray:
    """(H, W) the pieces of the photo that lie in the clear sky: in each column a piece crosses, smooth sky right
    above and right below it, for most of its pixels (WRAPPED_COLUMNS), and the piece clear of the bottom edge.

    A cloud darker than any clear sky in the top rows (the dark underside of a sunset or storm cloud) is out of the
    cloud prior, and a border that must run down each column from the top stopped on it: the cloud and the glow
    under it stayed still while the sky around them moved. Land stands on the ground, with no clear sky under it;
    a kite or a bird in the sky is wrapped too, and the finer cuts (`_objects_in_sky`) take it out again.
    """
    height = clear_sky.shape[0]
    rows = np.broadcast_to(np.arange(height)[:, None], clear_sky.shape)
    # Each column's runs of other pixels, and whether clear sky lies right above and right below the run.
    runs, count = ndimage.label(~clear_sky, structure=np.array([[0, 1, 0], [0, 1, 0], [0, 1, 0]]))
    if count == 0:
        return np.zeros_like(clear_sky)
    index = np.arange(1, count + 1)
    tops = ndimage.minimum(rows, runs, index).astype(int)
    bottoms = ndimage.maximum(rows, runs, index).astype(int)
    columns = ndimage.minimum(np.broadcast_to(np.arange(clear_sky.shape[1]), clear_sky.shape), runs, index).astype(int)
    above = (tops > 0) & clear_sky[np.maximum(tops - 1, 0), columns]
    below = (bottoms < height - 1) & clear_sky[np.minimum(bottoms + 1, height - 1), columns]
    wrapped_run = np.concatenate([[False], above & below])
    pieces, pieces_count = ndimage.label(~clear_sky)
    sizes = np.bincount(pieces.ravel(), minlength=pieces_count + 1)
    share = _piece_means(wrapped_run[runs].astype(np.float64), pieces, sizes)
    wrapped = (share >= WRAPPED_COLUMNS) & (sizes >= WRAPPED_MIN_PIXELS)
    wrapped[0] = False
    wrapped[np.unique(pieces[-1])] = False  # a piece that reaches the bottom edge stands on the ground
    return wrapped[pieces]


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


def _coarse_sky(rgb: np.ndarray, texture: np.ndarray, backlit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sky mask, per-pixel sky cost) at the coarse size; ``texture``: `_texture` at this size and the next;
    ``backlit``: `_lit_above_silhouette`."""
    magnitude, vertical = _gradient(rgb)
    bins = _bins(rgb)
    seed_rows = _seed_rows(rgb, magnitude, texture)
    border = np.full(rgb.shape[1], rgb.shape[0])  # first pass: no land colours known, any colour may be land
    costs, wrapped = _sky_costs(rgb, bins, texture, magnitude, border, seed_rows, backlit)
    for _ in range(REFIT_ROUNDS):
        # The border runs down each column through what the clear sky wraps round (a dark cloud); the costs
        # themselves stay as they are for the finer cuts, which take a kite out again.
        leaning = np.where(wrapped, np.minimum(costs, -CLEAR_SKY_BONUS), costs)
        border = np.minimum(_best_border(leaning, vertical), _first_land_band(leaning))
        costs, wrapped = _sky_costs(rgb, bins, texture, magnitude, border, seed_rows, backlit)
    return ~_below(_without_towers_of_sky(border, rgb, costs), rgb.shape[0]), costs


def _below_skyline_in_haze(sky: np.ndarray, water: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """``sky`` (coarse) ending at the skyline that shows through a fog bank lying on the land.

    Fog on a hillside is smooth and cloud-coloured, so the sky search runs on through it down to where the land
    shows; there the border lies on no edge, and none follows below it: the land fades into the haze. The trees or
    the ridge along the hilltop still stand out above it, darker than the sky behind them: in each column, the
    largest step down in brightness within HAZE_REACH of the height above the border (a cloud's flat base is darker
    above). Where those steps run on level from column to column (within 3 rows) across HAZE_SKYLINE_WIDTH of the
    photo, are crisp on the whole (median HAZE_SKYLINE_STEP), and the border under most of them fades into haze,
    they are the skyline, and the fog below them stays still with the land: a drifting tree line is worse than fog
    that stays. Where the fog rises over the ridge beside them, the skyline goes on behind it (`_continue_skyline`).
    Where water lies under the sky, the border is a waterline, not haze.
    """
    height, width = rgb.shape[:2]
    border = np.where(sky.all(axis=0), height, np.argmin(sky, axis=0))
    averaged = ndimage.uniform_filter1d(rgb, 3, axis=0)
    step = np.zeros((height, width), np.float32)
    step[1:-1] = np.abs(averaged[2:] - averaged[:-2]).max(axis=-1)
    luma = _luma(averaged)
    step_down = np.zeros_like(step)
    step_down[1:-1] = np.where(luma[2:] < luma[:-2], step[1:-1], 0.0)
    reach_below, reach_above = max(3, round(0.1 * height)), round(HAZE_REACH * height)
    skyline, skyline_step = np.full(width, -1), np.zeros(width, np.float32)
    hazy, on_no_edge = np.zeros(width, bool), np.zeros(width, bool)
    for column in range(width):
        row = int(border[column])
        if row < 4 or row > height - 4 or water[row : row + 3, column].any():
            continue
        top = max(1, row - reach_above)
        steps = step_down[top : row - 2, column]
        skyline[column] = top + int(np.argmax(steps))
        skyline_step[column] = steps.max()
        on_no_edge[column] = step[row - 2 : row + 2, column].max() < HAZE_STEP
        hazy[column] = on_no_edge[column] and (
            step[row + 2 : row + reach_below, column].max(initial=0.0) < HAZE_BELOW_STEP
        )
    found = skyline_step >= HAZE_STEP  # an edge at all
    level = found[1:] & found[:-1] & (np.abs(np.diff(skyline)) <= 3)
    runs, count = ndimage.label(found & (np.r_[False, level] | np.r_[level, False]))
    result = border.copy()
    for label in range(1, count + 1):
        columns = np.flatnonzero(runs == label)
        if (
            columns.size >= HAZE_SKYLINE_WIDTH * width
            and np.median(skyline_step[columns]) >= HAZE_SKYLINE_STEP
            and hazy[columns].mean() >= 0.5
        ):
            result[columns] = skyline[columns]
            _continue_skyline(result, columns, skyline[columns], border, on_no_edge, searched=skyline >= 0)
    return sky & (np.arange(height)[:, None] < result[None, :])


def _continue_skyline(
    result: np.ndarray,
    columns: np.ndarray,
    rows: np.ndarray,
    border: np.ndarray,
    on_no_edge: np.ndarray,
    searched: np.ndarray,
) -> None:
    """Lower ``result`` (W,) to the skyline found in ``columns`` (at ``rows``), continued as a straight line beyond
    both ends, where the fog rises over the ridge and hides it: across the columns next to it whose border lies below
    the line, on no edge for the most part (the fog fading into the land). Where the border there lies on an edge,
    the land shows and ends the sky itself. ``searched`` (W,): the columns whose border was looked at (not water)."""
    slope, intercept = np.polyfit(columns, rows, 1)
    width = border.size
    for step, column in ((-1, columns[0] - 1), (1, columns[-1] + 1)):
        stretch = []
        while 0 <= column < width and searched[column] and border[column] > slope * column + intercept:
            stretch.append(column)
            column += step
        if stretch and on_no_edge[stretch].mean() >= 0.5:
            line = np.round(slope * np.array(stretch) + intercept).astype(int)
            result[stretch] = np.clip(np.minimum(result[stretch], line), 0, None)


def _without_towers_of_sky(border: np.ndarray, rgb: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """``border`` with the towers that are sky lowered to where the sky reaches on both sides of them.

    Where the border rises for a few columns and falls again, it outlines a tower, a mast or a tree crown: land
    standing in the sky, in the colours of the land under it. Between two clouds of a sunset, the glow, in colours the
    clear sky at the top does not show, leans to land as well, and the border rose over it up to a cloud's lower
    edge: a pillar of glow stayed still while the clouds around it moved. Such a tower has the colours of the sky
    beside it (TOWER_SKY_LIKENESS), few of its pixels are clearly land, and it is sky. A tower that reaches the top
    of the photo is a tree or a wall in front of it.
    """
    height, width = costs.shape
    widest = max(3, round(TOWER_MAX_WIDTH * width))
    beside = ndimage.grey_closing(border, size=widest)  # each narrow rise filled from the columns either side
    towers, count = ndimage.label(beside - border >= TOWER_MIN_RISE * height)
    result = border.copy()
    rows = np.arange(height)[:, None]
    for label in range(1, count + 1):
        columns = np.flatnonzero(towers == label)
        left, right = columns[0] - 1, columns[-1] + 1
        if left < 1 or right > width - 2:
            continue  # at the photo's edge, one side is unseen
        top = int(border[columns].min())
        if top == 0:
            continue
        level = max(top, min(border[left], border[right]))  # where the sky reaches on both sides
        inside = (rows >= border[columns][None, :]) & (rows < level)
        if not inside.any():
            continue
        clearly_land = (costs[:, columns][inside] > LAND_COST).mean()
        if clearly_land >= 0.5:
            continue
        tower = rgb[:, columns][inside].mean(axis=0)
        reach = columns.size + 2
        near = np.r_[max(0, left - reach + 1) : left + 1, right : min(width, right + reach)]
        sky_beside = rgb[top:level, near][rows[top:level] < border[near][None, :]]
        land_under = rgb[level : level + reach, columns].reshape(-1, 3)
        if sky_beside.size == 0 or land_under.size == 0:
            continue
        to_sky, to_land = np.abs(tower - sky_beside.mean(axis=0)).max(), np.abs(tower - land_under.mean(axis=0)).max()
        if to_sky <= TOWER_SKY_LIKENESS * to_land:
            result[columns] = np.maximum(border[columns], level)
    return result


def _lit_above_silhouette(rgb: np.ndarray) -> np.ndarray:
    """(H, W) the lit pixels above the land of a photo taken against the light, nothing in any other photo.

    With a low sun ahead, every face of the land turned to the camera is in shadow: the land is a black silhouette,
    and only the sky (its clouds, its glow) is lit. Such a photo is told by its bottom rows, dark nearly throughout,
    by the dark region they belong to, which is black on the whole (land in shade keeps some light) and has a shape
    (a black bar along the bottom is level), and by its outline, which stands against light for the most part
    (layered hills in haze above a black foreground are dim there, and are land). Above the outline, each column's
    lit pixels are sky.
    """
    height = rgb.shape[0]
    luma = _luma(rgb)
    # Dark and lit relative to the upper half of the photo: the same scene exposed brighter or darker is the same.
    reference = float(np.median(luma[: max(1, height // 2)]))
    dark = luma <= SILHOUETTE_DARK * reference
    nothing = np.zeros(rgb.shape[:2], bool)
    bottom_dark = dark[-max(1, round(SILHOUETTE_BOTTOM * height)) :].mean()
    if reference < DARK_SKY_LUMA or bottom_dark < SILHOUETTE_BOTTOM_SHARE:  # a night photo has no lit sky
        return nothing
    pieces, _ = ndimage.label(dark)
    silhouette = np.isin(pieces, pieces[-1][pieces[-1] > 0])
    if np.median(luma[silhouette]) > SILHOUETTE_BLACK * reference:
        return nothing  # land in shade, which keeps some light; a silhouette against the sun is black
    outline = np.where(silhouette.any(axis=0), silhouette.argmax(axis=0), height)  # the silhouette's top row
    if np.mean(np.abs(outline - np.median(outline)) <= 1) >= SILHOUETTE_LEVEL_SHARE:
        return nothing  # a ruler-level outline is a black bar along the bottom, not land
    rows = np.arange(height)[:, None]
    above = rows < outline[None, :]
    rim = above & (rows >= outline[None, :] - max(1, round(SILHOUETTE_RIM * height)))
    lit = luma >= SILHOUETTE_LIT * reference
    if not rim.any() or lit[rim].mean() < SILHOUETTE_RIM_LIT:
        return nothing
    return above & lit


def _pooled(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Mean of ``values`` over the cells of a ``shape`` grid (the finer texture seen at the coarse size)."""
    image = Image.fromarray(values.astype(np.float32))
    return np.asarray(image.resize((shape[1], shape[0]), Image.Resampling.BOX), dtype=np.float32)


def _first_land_band(costs: np.ndarray) -> np.ndarray:
    """Per column, the first row of a run of clearly-land pixels LAND_BAND high, in a band at least LAND_BAND_WIDTH
    wide, or that band's row across a stretch of up to 2 x LAND_BAND_GAP of the width where it thins (the number of
    rows when none).

    The sky is one piece from the top: below a tree line or a shore, sky-coloured pixels are water or haze, not sky.
    A cable or a stalk crossing the sky is thinner than the band and does not cut it.
    """
    height = costs.shape[0]
    rows = max(2, round(LAND_BAND * height))
    land = (costs > LAND_COST).astype(np.int32)
    runs = ndimage.convolve1d(land, np.ones(rows, np.int32), axis=0, mode="constant", origin=-(rows // 2))
    full = runs >= rows
    # Only a band that runs across the photo (a tree line, a ridge, a shore) cuts the sky: a kite or a tower top is
    # as tall but narrow, and the sky goes on below it (the object itself is cut out later).
    pieces = ndimage.binary_dilation(full, np.ones((rows, 1), bool))
    bands, count = ndimage.label(pieces, np.ones((3, 3), bool))
    if count == 0:
        return np.full(costs.shape[1], height)
    cuts = np.zeros(count + 1, bool)
    for index, piece in enumerate(ndimage.find_objects(bands), start=1):
        rows_in, columns_in = np.nonzero(bands[piece] == index)
        if np.ptp(columns_in) + 1 < max(2, LAND_BAND_WIDTH * costs.shape[1]):  # one column has no slope to fit
            continue
        # A tree line, a ridge or a shore runs roughly level; a cable or a boom can cross the sky at any angle.
        cuts[index] = abs(np.polyfit(columns_in, rows_in, 1)[0]) <= LAND_BAND_MAX_SLOPE
    wide = full & cuts[bands]
    own = np.where(wide.any(axis=0), wide.argmax(axis=0), height)
    # Where such a band thins for a stretch (a low part of a far shore) and goes on at the same height beyond it, the
    # stretch is part of it: otherwise the border dives through it into a lake that mirrors the sky. A thinned stretch
    # still leans to land at the band's height; the sky between two trees or towers of the band does not.
    gap = 2 * round(LAND_BAND_GAP * costs.shape[1]) + 1
    cutting = pieces & cuts[bands]
    stretch = ndimage.binary_closing(cutting, np.ones((1, gap), bool)) & ~cutting
    leans_to_land = (costs * stretch).sum(axis=0) > 0
    bridged = cutting | (stretch & leans_to_land[None, :])
    across = np.where(bridged.any(axis=0), bridged.argmax(axis=0) + rows // 2, height)
    # A column's own run deeper than the bridged band belongs to another band below the stretch (boats on a beach).
    return np.where(own <= across + rows, own, across)


# ----------------------------------------------------------------------------------------------------------------------
# Refinement at the finer size


def _guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a grey guide: ``source`` smoothed, but with the edges of ``guide``."""
    size = 2 * radius + 1

    def box(values: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(values, size=size, mode="nearest")

    mean_guide, mean_source = box(guide), box(source)
    variance = box(guide * guide) - mean_guide * mean_guide
    covariance = box(guide * source) - mean_guide * mean_source
    slope = covariance / (variance + eps)
    offset = mean_source - slope * mean_guide
    return box(slope) * guide + box(offset)


def _upsampled(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    image = Image.fromarray(mask.astype(np.float32))
    return np.asarray(image.resize((shape[1], shape[0]), Image.Resampling.BILINEAR), dtype=np.float32)


def _refined(sky_coarse: np.ndarray, fine_rgb: np.ndarray) -> np.ndarray:
    """Soft sky (H, W) at the fine size whose border follows the photo's own edges near the coarse border."""
    luma = _luma(fine_rgb)
    scale = fine_rgb.shape[0] / sky_coarse.shape[0]
    soft = _upsampled(sky_coarse, luma.shape)
    return np.clip(_guided_filter(luma, soft, radius=max(2, round(2 * scale)), eps=1e-3), 0.0, 1.0)


def _sharp_edges(sky: np.ndarray, fine_rgb: np.ndarray) -> np.ndarray:
    """Edges sharper than SHARP_EDGE and than 6x the sky's typical gradient (a noisy sky has gradients everywhere)."""
    magnitude, _ = _gradient(fine_rgb, sigma=0.7)
    return magnitude > max(SHARP_EDGE, 6.0 * float(np.median(magnitude[sky])))


def _objects_in_sky(
    sky: np.ndarray, fine_rgb: np.ndarray, sky_costs: np.ndarray, sharp: np.ndarray, backlit: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of the sky that belong to things standing in it: cables, masts, kites, birds, branches; and the
    sharp edges kept in the sky as a crisp cloud's rim although their chain runs into the land (`_cloud_rims`).

    Sharp edges split the sky into pieces. A piece is an object when it is thin (at most OBJECT_WIDTH of the short
    side across) or small and not cloud-coloured (``sky_costs``, coarse, >= 0 on average), and its colour differs
    from the sky around it (the large pieces nearby, blurred); the sharp edges touching objects or land go with them.
    Most clouds are soft-edged, so they stay in one piece with the sky, and a cloud cut off by sharp edges still
    looks like its surroundings, or is large. A crisp cumulus is the exception the cloud-texture rule below keeps.
    ``sharp``: `_sharp_edges`; ``backlit``: `_lit_above_silhouette`, coarse.
    """
    pieces, count = ndimage.label(sky & ~sharp)
    if count == 0:
        return sky & sharp, np.zeros_like(sky)
    sizes = np.bincount(pieces.ravel(), minlength=count + 1)
    widths = _half_widths(pieces, count)
    thin = widths <= OBJECT_WIDTH * min(sky.shape)
    # A small piece in colours a cloud can have (white or grey of any brightness, or the sky's colours) is a cloud,
    # not a kite or a sign.
    colour = np.stack([_piece_means(fine_rgb[..., channel], pieces, sizes) for channel in range(3)], axis=-1)
    greyish = (colour.max(axis=1) - colour.min(axis=1)) <= CLOUD_MAX_SATURATION * np.maximum(colour.max(axis=1), 1e-6)
    fine_costs = _upsampled(sky_costs, sky.shape)
    sky_hued = _piece_means(fine_costs, pieces, sizes) < 0
    cloud_coloured = greyish | sky_hued
    candidate = thin | ((sizes <= OBJECT_MAX_FRACTION * sky.size) & ~cloud_coloured)
    candidate[0] = False
    around = _surrounding_colour(fine_rgb, (pieces > 0) & ~candidate[pieces])
    step = _piece_means(np.abs(fine_rgb - around).max(axis=2), pieces, sizes)
    # A thin piece between sharp edges is most likely a cable or a mast: a smaller colour step gives it away.
    stands_out = candidate & (step > np.where(thin, 0.5, 1.0) * OBJECT_COLOUR_STEP)
    edge_chains, chain_count = ndimage.label(sky & sharp, structure=np.ones((3, 3), bool))
    # But the crisp edges of a cumulus cut the blue between its puffs into thin pieces too. Those are in the sky's
    # hues, not long straight bands (as cables and masts are), and away from anything that is not sky: the land,
    # edges that run into it (a wall's windows) but for a cloud's rim, and objects of other colours (the blue panel
    # of a kite).
    coloured_objects = (stands_out & ~cloud_coloured)[pieces]
    rims = _cloud_rims(sky, sharp, pieces, candidate, fine_rgb, fine_costs)
    land_edges = np.isin(edge_chains, _touching(edge_chains, ~sky)) & ~rims
    beside_things = ndimage.binary_dilation(
        ~sky | coloured_objects | land_edges, iterations=max(1, round(OBJECT_WIDTH * min(sky.shape)))
    )
    cloud_texture = thin & sky_hued & ~_long_and_straight(pieces, count, widths)
    cloud_texture &= _piece_means(beside_things.astype(np.float32), pieces, sizes) == 0
    # Against the light, whatever stands in the sky is dark (a bird, a cable, a branch; a ridge in haze is darker
    # than the sky behind it): a piece lit brighter than the sky around it is the sky's own, the rim of a cloud lit
    # by the sun behind it.
    backlit_fine, lit_step = _upsampled(backlit, sky.shape), _luma(fine_rgb) - _luma(around)

    def lit(labels: np.ndarray, label_sizes: np.ndarray) -> np.ndarray:
        return (_piece_means(backlit_fine, labels, label_sizes) >= 0.5) & (
            _piece_means(lit_step, labels, label_sizes) > 0
        )

    objects = (stands_out & ~cloud_texture & ~lit(pieces, sizes))[pieces]
    chain_sizes = np.bincount(edge_chains.ravel(), minlength=chain_count + 1)
    sky_coloured_chains = _piece_means(fine_costs, edge_chains, chain_sizes) < 0
    outlines = _outlines(edge_chains, objects, ~sky, sky_coloured_chains, lit(edge_chains, chain_sizes))
    # A rim right beside a thing cut out of the sky (a kite, a rod) is that thing's outline and goes with it; the
    # caller then trims what is kept as far again from everything that is not sky, these outlines included.
    kept_rims = outlines & rims & ~ndimage.binary_dilation(objects, iterations=SKYLINE_REACH_PX)
    return objects | (outlines & ~kept_rims), kept_rims


def _cloud_rims(
    sky: np.ndarray,
    sharp: np.ndarray,
    pieces: np.ndarray,
    candidate: np.ndarray,
    fine_rgb: np.ndarray,
    costs: np.ndarray,
) -> np.ndarray:
    """Sharp edges in the sky that are a crisp cloud's rim, although their chain may run into the land where the
    cloud meets a ridge: the stretches of edges farther than SKYLINE_REACH_PX from the land that are winding, in a
    cloud's colours on the whole (``costs``, fine, < 0), mostly no darker than the darkest sky beside them, and that
    in RIM_MIN_SHARE of their pixels part sky bodies (``pieces`` not ``candidate`` for objects) of lightness
    differing by RIM_CONTRAST: the white of the cloud from the blue. A cable or a branch is darker than the sky on
    both sides, a lit rod has the same blue on both, and a pale roof has the sky on one side only."""
    luma = _luma(fine_rgb)
    size = 2 * SKYLINE_REACH_PX + 1
    body = (pieces > 0) & ~candidate[pieces]
    darkest_body = ndimage.minimum_filter(np.where(body, luma, np.inf), size=size)
    lightest_body = ndimage.maximum_filter(np.where(body, luma, -np.inf), size=size)
    darkest_sky = ndimage.minimum_filter(np.where(pieces > 0, luma, np.inf), size=size)
    away = sky & sharp & ~ndimage.binary_dilation(~sky, iterations=SKYLINE_REACH_PX)
    stretches, count = ndimage.label(away, structure=np.ones((3, 3), bool))
    sizes = np.bincount(stretches.ravel(), minlength=count + 1)

    def share(values: np.ndarray) -> np.ndarray:
        return _piece_means(values.astype(np.float32), stretches, sizes)

    rim = (share(luma >= darkest_sky - RIM_DARKER_BY) >= 0.5) & (_piece_means(costs, stretches, sizes) < 0)
    rim &= share(lightest_body - darkest_body >= RIM_CONTRAST) >= RIM_MIN_SHARE
    rim &= ~_long_and_straight(stretches, count, _half_widths(stretches, count))
    rim[0] = False
    return rim[stretches]


def _outlines(
    chains: np.ndarray, objects: np.ndarray, land: np.ndarray, sky_coloured: np.ndarray, lit: np.ndarray
) -> np.ndarray:
    """The chains of sharp edges that go with ``objects`` or ``land``: every chain touching the land, and each chain
    touching objects (of OUTLINED_OBJECT_MIN_PX or more), unless it is a cloud's outline: sky-coloured on the whole
    (``sky_coloured``, per chain label), more than CHAIN_MAX_RATIO times the objects' size, long
    (CLOUD_OUTLINE_MIN_SHARE of the image: a bird is smaller) and winding (the edges of a cable run straight). The
    outline of a kite or a cable goes with it, but the long crisp outline of a cloud does not go with a speck on it
    that looked like an object (in a small photo, enlarged, the outlines of a cumulus stayed still while its inside
    moved). Against the light, a ``lit`` chain (per chain label) is the sunlit rim of a cloud, which may reach down
    to the land: only its pixels next to the land go."""
    touching_land = np.zeros(len(sky_coloured), bool)
    touching_land[_touching(chains, land)] = True
    pieces, _ = ndimage.label(objects)
    # A speck of a few pixels on a cloud's crisp edge (a dark blot, JPEG noise) is no kite: the edge it touches stays
    # in the sky, or a still band of it was left behind as the cloud drifted, and the cloud looked torn in two.
    sizes = np.bincount(pieces.ravel())
    pieces = np.where(sizes[pieces] >= OUTLINED_OBJECT_MIN_PX, pieces, 0)
    beside = ndimage.binary_dilation(pieces > 0, structure=np.ones((3, 3), bool)) & (chains > 0)
    near = ndimage.grey_dilation(pieces, size=(3, 3))[beside]  # an object piece next to each such chain pixel
    pairs = np.unique(np.stack([chains[beside], near]), axis=1)
    pairs = pairs[:, pairs[1] > 0]
    object_area = np.bincount(pairs[0], weights=sizes[pairs[1]], minlength=len(sky_coloured))
    chain_area = np.bincount(chains.ravel(), minlength=len(sky_coloured))
    cloud_outline = sky_coloured & (object_area > 0) & (chain_area > CHAIN_MAX_RATIO * object_area)
    cloud_outline &= chain_area >= CLOUD_OUTLINE_MIN_SHARE * chains.size
    candidates = np.flatnonzero(cloud_outline)
    if candidates.size:  # the straightness test only for these: it looks at each chain in turn
        renumbered = np.zeros(len(sky_coloured), np.int64)
        renumbered[candidates] = np.arange(1, candidates.size + 1)
        subset = renumbered[chains]
        widths = _half_widths(subset, candidates.size)
        cloud_outline[candidates] = ~_long_and_straight(subset, candidates.size, widths)[1:]
    outlines = (touching_land & ~lit) | ((object_area > 0) & ~cloud_outline)
    outlines[0] = False
    rims = touching_land & lit & ~outlines
    return outlines[chains] | (rims[chains] & ndimage.binary_dilation(land, iterations=SKYLINE_REACH_PX))


def _touching(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The labels (> 0) of the pieces of ``labels`` that touch ``mask`` (8-neighbours)."""
    touching = np.unique(labels[ndimage.binary_dilation(mask, structure=np.ones((3, 3), bool)) & (labels > 0)])
    return touching[touching > 0]


def _long_and_straight(pieces: np.ndarray, count: int, widths: np.ndarray) -> np.ndarray:
    """Per labelled piece (index 0 included, False): a straight band at least OBJECT_MIN_ASPECT times as long as it
    is wide, as a cable or a mast is. From the spread of its pixels along and across their main axis (a band of
    length L has a spread of L / sqrt(12)); ``widths``: the largest distance from each piece's border (half its
    width)."""
    rows, columns = np.nonzero(pieces)
    labels = pieces[rows, columns]
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(count + 2))
    result = np.zeros(count + 1, bool)
    for index in range(1, count + 1):
        chosen = order[starts[index] : starts[index + 1]]
        if chosen.size < 3:
            continue
        across, along = np.sqrt(
            12 * np.maximum(np.linalg.eigvalsh(np.cov(np.stack([rows[chosen], columns[chosen]]))), 0)
        )
        width = 2 * widths[index] + 1
        result[index] = across <= 2 * width and along >= OBJECT_MIN_ASPECT * width
    return result


def _reed_beds(region: np.ndarray, fine_rgb: np.ndarray, reach: int = STALK_REACH_PX) -> np.ndarray:
    """Reed beds: where ``region`` (the water, or the sky, which runs on over a lake whose waterline the water search
    did not find) is crowded with thin dark upright strokes (reeds, grass or posts standing in the lake), which must
    stay still while the water moves.

    A stroke is darker than the pixels ``reach`` either side of it (STALK_REACH_PX, times the enlargement of a small
    photo) by STALK_STEP and runs upright for STALK_RUN_PX. A bed is where strokes cover STALK_DENSITY of a window
    and at least STALK_MIN_COUNT of them stand together: ripples are level streaks, and the few soft dark streaks of
    a rippled reflection of trees are not a bed (with the wider reach of a small photo, some are: they stay still
    with the reeds). A bed takes in its fringe, where its strokes thin out to STALK_FRINGE_DENSITY (the reed tips
    along its top, a sparse wing): the water between them is too little to show ripples, and the reeds would wave
    with it.
    """
    luma = _luma(fine_rgb)
    beside = np.minimum(np.roll(luma, reach, axis=1), np.roll(luma, -reach, axis=1))
    # The bed's own middle may already be out of the water (the water search stops at it); it is still in the lake.
    in_lake = ndimage.binary_fill_holes(region)
    strokes = ndimage.binary_opening(beside - luma > STALK_STEP, structure=np.ones((STALK_RUN_PX, 1), bool)) & in_lake
    density = ndimage.uniform_filter(strokes.astype(np.float32), size=STALK_WINDOW_PX)
    beds, count = ndimage.label(density > STALK_DENSITY)
    if count == 0:
        return np.zeros_like(region)
    stalks, _ = ndimage.label(strokes)
    pairs = np.unique(np.stack([beds[stalks > 0], stalks[stalks > 0]]), axis=1)
    stalks_per_bed = np.bincount(pairs[0], minlength=count + 1)
    crowded = stalks_per_bed >= STALK_MIN_COUNT
    crowded[0] = False
    fringes, _ = ndimage.label(density > STALK_FRINGE_DENSITY)
    bed_fringes = np.unique(fringes[crowded[beds]])
    return np.isin(fringes, bed_fringes[bed_fringes > 0]) & region


def _strokes_across_water(water: np.ndarray, fine_rgb: np.ndarray, sky: np.ndarray) -> np.ndarray:
    """Stalks, stems and posts in front of the water: thin strokes, upright or leaning, partly in colours water
    cannot take (`water_region.water_coloured` of this ``sky``).

    Water mirrors the sky, so a golden grass stalk across a blue sea is not water however smooth the sea around it:
    left in the water it slides with the waves and breaks where it leaves them. A stroke is at most OBJECT_WIDTH of
    the short side thick, spans STROKE_MIN_HEIGHT of it in height and is STROKE_MIN_ASPECT times taller than thick;
    a patch of reflected shore, a ripple or a speck of glitter is not. Its blurred edges, which take the water's hue,
    are told by their step from the water's own colour nearby.
    """
    if not sky.any():
        return np.zeros_like(water)
    unlike_water = water & ~water_coloured(fine_rgb, sky)
    step = np.abs(fine_rgb - _surrounding_colour(fine_rgb, water & ~unlike_water)).max(axis=2)
    foreign = unlike_water | (water & (step > OBJECT_COLOUR_STEP))
    pieces, count = ndimage.label(foreign, structure=np.ones((3, 3), bool))
    if count == 0:
        return np.zeros_like(water)
    half_widths = _half_widths(pieces, count)
    heights = np.zeros(count + 1)
    for label, box in enumerate(ndimage.find_objects(pieces), start=1):
        heights[label] = box[0].stop - box[0].start
    short_side = min(water.shape)
    strokes = (half_widths <= OBJECT_WIDTH * short_side) & (heights >= STROKE_MIN_ASPECT * (2 * half_widths + 1))
    strokes &= heights >= STROKE_MIN_HEIGHT * short_side
    # A streak of reflected light in the water's own colours, however bright, is water.
    sizes = np.bincount(pieces.ravel(), minlength=count + 1)
    strokes &= _piece_means(unlike_water.astype(np.float32), pieces, sizes) >= STROKE_MIN_UNLIKE
    strokes[0] = False
    return ndimage.binary_dilation(strokes[pieces], iterations=STROKE_HALO_PX) & water


def _land_behind_skylines(sky: np.ndarray, fine_rgb: np.ndarray, sharp: np.ndarray) -> np.ndarray:
    """Pieces of the sky cut off from the open sky above them by a sharp edge, resting on the land, and darker than
    the open sky across that edge: a hazy ridge behind its skyline, which the colour model takes for cloud.

    Aerial perspective makes a far ridge darker than the sky behind it, with a crisp outline; a cloud resting on a
    ridge is brighter than the sky above it, and the sky below a cable is as bright as above it, so both stay.
    """
    result = np.zeros_like(sky)
    pieces, count = ndimage.label(sky & ~sharp)
    top = np.unique(pieces[0][pieces[0] > 0])
    if count < 2 or top.size == 0:
        return result
    open_sky = np.isin(pieces, top)
    land = ~sky & ~sharp
    luma = _luma(fine_rgb)
    reach = SKYLINE_REACH_PX
    resting = np.unique(pieces[ndimage.binary_dilation(land, iterations=reach) & (pieces > 0)])
    for index, box in enumerate(ndimage.find_objects(pieces), start=1):
        if box is None or index not in resting or index in top:
            continue
        # Work in the piece's box grown by twice the reach: the edge between it and the open sky lies within.
        rows = slice(max(0, box[0].start - 2 * reach), box[0].stop + 2 * reach)
        columns = slice(max(0, box[1].start - 2 * reach), box[1].stop + 2 * reach)
        piece = pieces[rows, columns] == index
        open_side = open_sky[rows, columns] & ndimage.binary_dilation(piece, iterations=reach)
        if not open_side.any():
            continue
        piece_side = piece & ndimage.binary_dilation(open_side, iterations=reach)
        below = np.nonzero(open_side)[0].mean() < np.nonzero(piece_side)[0].mean()
        local_luma = luma[rows, columns]
        # However little: the furthest ridge in haze is barely darker than the sky above it.
        darker = local_luma[piece_side].mean() < local_luma[open_side].mean()
        if below and darker:
            result[rows, columns] |= piece
    return result


def _half_widths(pieces: np.ndarray, count: int) -> np.ndarray:
    """Per labelled piece (index 0 included, 0): the largest distance from its border, half its width."""
    inside = pieces > 0
    distances = ndimage.distance_transform_edt(inside)
    result = np.zeros(count + 1)
    np.maximum.at(result, pieces[inside], distances[inside])  # ndimage.maximum sorts every pixel: 20x slower
    return result


def _piece_means(values: np.ndarray, pieces: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Mean of ``values`` over each labelled piece (index 0 included), from its pixel counts ``sizes``."""
    sums = np.bincount(pieces.ravel(), weights=values.ravel(), minlength=len(sizes))
    return sums / np.maximum(sizes, 1)


def _surrounding_colour(rgb: np.ndarray, reference: np.ndarray, cells: int = 48) -> np.ndarray:
    """The colour of the ``reference`` pixels nearby, at every pixel: a normalised blur over about 1/``cells`` of
    the long side, computed on a small copy (fast) and brought back to full size."""
    height, width = reference.shape
    scale = cells / max(height, width)
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    weights = np.asarray(Image.fromarray(reference.astype(np.float32)).resize(small, Image.Resampling.BOX))
    colour = np.stack(
        [np.asarray(Image.fromarray(rgb[..., c] * reference).resize(small, Image.Resampling.BOX)) for c in range(3)],
        axis=-1,
    )
    weights = ndimage.gaussian_filter(weights, 1.0, mode="nearest")
    colour = ndimage.gaussian_filter(colour, (1.0, 1.0, 0), mode="nearest") / np.maximum(weights, 1e-6)[..., None]
    return np.stack(
        [np.asarray(Image.fromarray(colour[..., c].astype(np.float32)).resize((width, height))) for c in range(3)],
        axis=-1,
    )


# ----------------------------------------------------------------------------------------------------------------------
# Confidence


def _colourless(rgb: np.ndarray) -> bool:
    """True for a black-and-white or toned (sepia, cyanotype) photo: its colour follows from its brightness, so
    colour tells nothing apart in it."""
    total = rgb.sum(axis=-1)
    lit = total > 0.3  # the chromaticity of near-black pixels is noise
    if lit.sum() < 100:  # too dark to tell
        return False
    chroma = rgb[lit] / total[lit, None]
    levels = np.minimum((_luma(rgb[lit]) * 32).astype(np.int64), 31)
    spread = np.zeros(len(chroma))
    for level in np.unique(levels):
        at_level = levels == level
        spread[at_level] = np.abs(chroma[at_level] - np.median(chroma[at_level], axis=0)).sum(axis=1)
    return float(np.quantile(spread, 0.9)) < COLOURLESS_SPREAD


def _border_contrast(rgb: np.ndarray, sky: np.ndarray, rows: int = 3) -> float | None:
    """Median over the columns with land of the largest RGB step between the rows just above and below the border."""
    height = sky.shape[0]
    border = sky.sum(axis=0)
    columns = np.flatnonzero((border >= rows) & (border <= height - rows))
    if columns.size == 0:
        return None
    offsets = np.arange(rows)
    above = rgb[border[columns][:, None] - 1 - offsets, columns[:, None]].mean(axis=1)
    below = rgb[border[columns][:, None] + offsets, columns[:, None]].mean(axis=1)
    return float(np.median(np.abs(above - below).max(axis=1)))


def _uncertainty(rgb: np.ndarray, sky: np.ndarray, texture: np.ndarray, colourless: bool) -> str | None:
    """A sentence saying why the sky cannot be trusted, or None. ``colourless``: the photo is black-and-white or
    toned (`_colourless`)."""
    top_rows = max(1, round(SEED_BAND * rgb.shape[0]))
    if 1.0 - float(_may_be_sky(rgb[:top_rows]).mean()) >= FOLIAGE_TOP_SHARE:
        return "the top of the photo is leaves or grass, not sky"
    # Without colour, leaves are not green: a forest's top is told by its roughness instead (trunks against bright
    # gaps: a median of 0.15, where the roughest cloudy sky measured has 0.044). A dense mackerel sky can be as rough
    # (0.2 in a synthetic one), so in colour the leaves alone decide.
    if colourless and float(np.median(texture[:top_rows])) >= LAND_TEXTURE:
        return "the top of the photo is rough throughout (trunks, branches, rock or a dense pattern) and has no colour"
    # A photo cut below its sky (a village under a forested slope, the arches of an aqueduct, seed heads in the
    # grass) has land in its top rows, which teach the sky model: with no clear sky among them, pale stone or dark
    # forest passed for cloud and moved (3-21 % of the land of such forms and crops of the labelled photos). A sky
    # dense with small clouds is as rough as land, but white, or grey under a storm (median saturation 0.14 in a
    # synthetic one); the land in those top rows has colour (0.24 or more in all but one greyer forest, 0.156).
    # Measured on the labelled photos, their forms and random crops: the top band over 1 % of labelled sky or more
    # is at least 0.17 clear sky or white cloud, those that moved their land this way at most 0.14.
    magnitude, _ = _gradient(rgb)
    top = rgb[:top_rows]
    clear = _clear_sky(rgb, magnitude, texture, _seed_rows(rgb, magnitude, texture))[:top_rows] > 0.5
    _, saturation, value = _hsv(top)
    white = (saturation <= WHITE_CLOUD_MAX_SATURATION) & (value >= SUNLIT_MIN_BRIGHTNESS)
    sky_top = float((_may_be_sky(top) & (clear | white)).mean())
    if sky_top < SKY_TOP_MIN_SHARE and float(np.median(saturation)) >= LAND_TOP_MIN_SATURATION:
        return f"the top of the photo shows almost no sky ({sky_top:.0%} of its top rows), as if cut below it"
    if not sky.any():
        return "no region of the photo looks like sky"
    luma = _luma(rgb)
    if float(luma.std()) < MIN_PHOTO_CONTRAST:
        return f"the photo has almost no contrast (brightness spread {float(luma.std()):.3f} of 1: fog or haze)"
    sky_luma = float(np.median(luma[sky]))
    if sky_luma < DARK_SKY_LUMA:
        return f"the sky is too dark to tell from the land (median brightness {sky_luma:.2f} of 1)"
    contrast = _border_contrast(rgb, sky)
    if contrast is not None and contrast < MIN_BORDER_CONTRAST:
        return f"sky and land barely differ where they meet (fog, haze or low contrast: step {contrast:.3f} of 1)"
    return None


# ----------------------------------------------------------------------------------------------------------------------
# Entry point


def find_sky_regions(image: Image.Image) -> SkyRegions:
    """Sky (with its clouds), water, a confidence map and an uncertainty verdict for ``image``, at its own size.

    A uniform frame (letterbox bars, a mat) is set aside first: it never moves, and the photo inside it is searched
    as if it had none (black bars would otherwise read as a night sky, a white mat as an overcast one).
    """
    rows, columns = _inside_frame(image)
    if (rows.stop - rows.start, columns.stop - columns.start) == (image.height, image.width):
        return _find_sky_regions(image)
    inside = _find_sky_regions(image.crop((columns.start, rows.start, columns.stop, rows.stop)))
    sky, water = np.zeros((image.height, image.width), np.float32), np.zeros((image.height, image.width), np.float32)
    confidence = np.ones_like(sky)  # the frame is surely not sky
    sky[rows, columns], water[rows, columns], confidence[rows, columns] = inside.sky, inside.water, inside.confidence
    return SkyRegions(sky=sky, water=water, confidence=confidence, uncertainty=inside.uncertainty)


def _inside_frame(image: Image.Image) -> tuple[slice, slice]:
    """The rows and columns of ``image`` inside a uniform frame: lines of one flat colour on two opposite sides (a
    letterbox's bars, a mat, a scanned border), which ends at an edge where the photo begins. A sky touches one side
    only, and it is not flat along a whole line and down many lines alike on the opposite side as well."""
    rgb = _resized(image, FINE_SIDE_PX)
    scale_y, scale_x = image.height / rgb.shape[0], image.width / rgb.shape[1]

    def depth(lines: np.ndarray) -> tuple[int, np.ndarray, bool]:
        """How many of ``lines`` (N, L, 3), from the outside in, belong to a flat frame of the outermost one's
        colour; the frame's colour; whether it ends at an edge (the photo begins abruptly, within a few lines of
        JPEG ringing or blur), as a vignette or a flat sky fading in does not."""
        outer = lines[0].mean(axis=0)
        flat = (lines.std(axis=1).max(axis=1) <= FRAME_LINE_STD) & (
            np.abs(lines.mean(axis=1) - outer).max(axis=1) <= FRAME_COLOUR_STEP
        )
        count = int(np.argmin(flat)) if not flat.all() else len(flat)
        if count < FRAME_MIN_LINES:
            return 0, outer, False
        steps = np.abs(lines[count : count + FRAME_EDGE_LINES] - outer).max(axis=-1).mean(axis=-1)
        beyond = np.flatnonzero(steps >= FRAME_EDGE_STEP)
        # The line at the edge itself mixes frame and photo: it goes with the frame.
        return (count + int(beyond[0]) + 1 if beyond.size else count), outer, bool(beyond.size)

    def pair(first: np.ndarray, last: np.ndarray) -> tuple[int, int]:
        """Frame depths on two opposite sides: both flat, of one colour, and ending at an edge on at least one."""
        reach = max(1, round(FRAME_MAX_SHARE * first.shape[0]))
        near, near_colour, near_edge = depth(first[:reach])
        far, far_colour, far_edge = depth(last[::-1][:reach])
        if near and far and (near_edge or far_edge) and np.abs(near_colour - far_colour).max() <= FRAME_COLOUR_STEP:
            return near, far
        return 0, 0

    top, bottom = pair(rgb, rgb)
    left, right = pair(rgb.transpose(1, 0, 2), rgb.transpose(1, 0, 2))
    # Inward to whole pixels of the image: no pixel of the frame is searched.
    return (
        slice(int(np.ceil(top * scale_y)), image.height - int(np.ceil(bottom * scale_y))),
        slice(int(np.ceil(left * scale_x)), image.width - int(np.ceil(right * scale_x))),
    )


def _find_sky_regions(image: Image.Image) -> SkyRegions:
    """`find_sky_regions` on a photo without a frame."""
    # A small photo is enlarged: the finer rules count pixels (an object's width, a reed's stroke, an edge's
    # sharpness per pixel), so they must see every photo at one scale. Found in a 320 px copy, a kite flew with the
    # sky and reeds drifted with the lake.
    fine = _resized(image, FINE_SIDE_PX, enlarge=True)
    fine_image = Image.fromarray((fine * 255).round().astype(np.uint8))
    coarse, detail = _resized(fine_image, COARSE_SIDE_PX), _resized(fine_image, 2 * COARSE_SIDE_PX)
    if min(coarse.shape[:2]) < MIN_WORKING_SIDE_PX:
        nothing = np.zeros((image.height, image.width), np.float32)
        return SkyRegions(
            sky=nothing,
            water=nothing,
            confidence=nothing,
            uncertainty=f"the photo is too narrow a strip ({image.width}x{image.height}) to tell sky from land",
        )
    texture = np.maximum(_texture(coarse), _pooled(_texture(detail), coarse.shape[:2]))
    backlit = _lit_above_silhouette(coarse)
    sky_coarse, costs = _coarse_sky(coarse, texture, backlit)
    colourless = _colourless(coarse)
    uncertainty = _uncertainty(coarse, sky_coarse, texture, colourless)
    nothing_moves = uncertainty is not None
    found = find_water(coarse, sky_coarse, texture)
    sky_coarse, water_coarse = _below_skyline_in_haze(found.sky, found.water, coarse), found.water
    if colourless and not nothing_moves:
        # Water is told by its colours, those of the sky above it: without colour a grey road or hillside has them.
        # So the sky moves and the water does not; what the water search took out of the sky stays out.
        water_coarse = np.zeros_like(water_coarse)
        uncertainty = (
            "the photo has no colour (black-and-white or toned), so water stays still and grey land may pass for cloud"
        )
    soft_sky = _refined(sky_coarse, fine)
    sky = soft_sky >= 0.5
    if sky.any():
        sharp = _sharp_edges(sky, fine)
        objects, rims = _objects_in_sky(sky, fine, costs, sharp, backlit)
        sky &= ~objects & ~_land_behind_skylines(sky & ~objects, fine, sharp)
        # A rim kept in the sky stops short of whatever turned out not to be sky: the land and things in the sky.
        sky &= ~(rims & ndimage.binary_dilation(~sky, iterations=SKYLINE_REACH_PX))
    soft_water = _refined(water_coarse, fine)
    water = (soft_water >= 0.5) & ~sky
    # A small photo was enlarged: a reed one pixel thin in it is as many pixels wide here, and blurred.
    enlarged = max(1.0, FINE_SIDE_PX / max(image.size))
    reach = round(STALK_REACH_PX * enlarged)
    water &= ~_reed_beds(water, fine, reach)
    sky &= ~_reed_beds(sky, fine, reach)
    water &= ~_strokes_across_water(water, fine, sky)
    confidence = np.maximum(np.abs(2 * soft_sky - 1), np.abs(2 * soft_water - 1) * water)
    if nothing_moves:
        confidence *= 0.0
        sky, water = np.zeros_like(sky), np.zeros_like(water)
    size = image.size
    return SkyRegions(
        sky=_to_image_size(sky, size),
        water=_to_image_size(water, size),
        confidence=np.clip(_to_image_size(confidence, size, binary=False), 0.0, 1.0),
        uncertainty=uncertainty,
    )


def _to_image_size(mask: np.ndarray, size: tuple[int, int], binary: bool = True) -> np.ndarray:
    values = mask.astype(np.float32)
    if (values.shape[1], values.shape[0]) != tuple(size):
        values = np.asarray(Image.fromarray(values).resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    return (values >= 0.5).astype(np.float32) if binary else values
