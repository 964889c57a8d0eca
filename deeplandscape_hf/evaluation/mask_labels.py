"""Hand-drawn sky / water labels as polygon files, and the scores of a movable mask against them.

A label file is JSON: ``{"photo": "name.jpg", "size": [W, H], "shapes": [...]}``. Each shape has a ``label``
(``sky``, ``water``, ``static``, ``ignore`` or ``cloud``) and either a ``polygon`` ([[x, y], ...], pixel
coordinates of the photo at ``size``) or a ``line`` (a polyline) with a ``width`` in pixels, for cables, stalks and
masts. Shapes are painted in file order, each over the ones before: draw the sky, then cut what stands in front of
it (a kite, a tower) with ``static``. ``ignore`` marks pixels nobody can label (fog where the sky meets a lake):
they are left out of every score. ``cloud`` shapes are a separate layer: the cloud pixels are the cloud shapes
inside the final sky, so a rough outline around a cloud is enough.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageOps
from scipy import ndimage

if TYPE_CHECKING:
    from ..animation.segmentation import SegmentationResult
    from .results import EvaluationResult

__all__ = [
    "MASK_COLUMNS",
    "LabelMasks",
    "MaskScores",
    "PHOTO_VARIANTS",
    "VARIANT_NAMES",
    "crop_labelled",
    "evaluate_masks",
    "label_files",
    "load_labels",
    "photo_variant",
    "render_labels",
    "score_movable_mask",
]

STATIC, SKY, WATER, IGNORE = 0, 1, 2, 255
PAINTED = {"static": STATIC, "sky": SKY, "water": WATER, "ignore": IGNORE}
SHAPE_LABELS = (*PAINTED, "cloud")
# Hand-placed vertices sit within about two pixels of the true border (at 512 px), so a band that wide on each side of
# every drawn border is left out of the scores: the scores then measure the segmenter, not the hand.
BORDER_TOLERANCE_PX = 2


@dataclass(frozen=True)
class LabelMasks:
    """Boolean (H, W) masks of one labelled photo; ``scored`` is False on ignored pixels and near drawn borders."""

    sky: np.ndarray
    water: np.ndarray
    cloud: np.ndarray
    scored: np.ndarray

    @property
    def land(self) -> np.ndarray:
        return ~(self.sky | self.water)

    @property
    def has_water(self) -> bool:
        return bool((self.water & self.scored).any())


@dataclass(frozen=True)
class MaskScores:
    """How a movable mask agrees with a label; ``None`` where the photo has nothing to score (no water, no clouds)."""

    sky_iou: float | None
    water_iou: float | None
    land_in_mask: float
    cloud_included: float | None


def load_labels(path: str | os.PathLike) -> dict:
    """Read and check one label file; errors name the file and what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"Cannot read the label file '{path}': {error}") from error
    size = data.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise ValueError(f"'{path}': 'size' must be [width, height] in pixels, got {size!r}.")
    for index, shape in enumerate(data.get("shapes", [])):
        where = f"'{path}', shape {index}"
        if shape.get("label") not in SHAPE_LABELS:
            raise ValueError(f"{where}: label must be one of {', '.join(SHAPE_LABELS)}, got {shape.get('label')!r}.")
        points = shape.get("polygon", shape.get("line"))
        if ("polygon" in shape) == ("line" in shape) or not isinstance(points, list) or len(points) < 2:
            raise ValueError(
                f"{where}: give exactly one of 'polygon' (3+ points) or 'line' (2+ points) as [[x, y], ...]."
            )
        if "line" in shape and not shape.get("width", 0) > 0:
            raise ValueError(f"{where}: a 'line' needs a positive 'width' in pixels.")
    return data


def _draw(canvas: ImageDraw.ImageDraw, shape: dict, value: int, scale: tuple[float, float]) -> None:
    points = [(x * scale[0], y * scale[1]) for x, y in shape.get("polygon", shape.get("line"))]
    if "polygon" in shape:
        canvas.polygon(points, fill=value)
    else:
        canvas.line(points, fill=value, width=max(1, round(shape["width"] * (scale[0] + scale[1]) / 2)), joint="curve")


def render_labels(labels: dict | str | os.PathLike, size: tuple[int, int] | None = None) -> LabelMasks:
    """Rasterise a label file (or its loaded dict) at ``size`` = (W, H), default the size it was drawn at."""
    data = labels if isinstance(labels, dict) else load_labels(labels)
    drawn_size = tuple(data["size"])
    width, height = size or drawn_size
    scale = (width / drawn_size[0], height / drawn_size[1])
    classes = Image.new("L", (width, height), STATIC)
    clouds = Image.new("L", (width, height), 0)
    for shape in data.get("shapes", []):
        if shape["label"] == "cloud":
            _draw(ImageDraw.Draw(clouds), shape, 1, scale)
        else:
            _draw(ImageDraw.Draw(classes), shape, PAINTED[shape["label"]], scale)
    painted = np.asarray(classes)
    sky, water = painted == SKY, painted == WATER
    tolerance = BORDER_TOLERANCE_PX * max(width, height) / max(drawn_size)
    near_border = _near_any_border(painted, tolerance)
    return LabelMasks(
        sky=sky,
        water=water,
        cloud=(np.asarray(clouds) > 0) & sky,
        scored=(painted != IGNORE) & ~near_border,
    )


def _near_any_border(painted: np.ndarray, tolerance: float) -> np.ndarray:
    """Pixels within ``tolerance`` of a change of painted class (image edges are not borders)."""
    change = np.zeros(painted.shape, bool)
    change[:, 1:] |= painted[:, 1:] != painted[:, :-1]
    change[:, :-1] |= painted[:, 1:] != painted[:, :-1]
    change[1:] |= painted[1:] != painted[:-1]
    change[:-1] |= painted[1:] != painted[:-1]
    if not change.any():
        return change
    return ndimage.distance_transform_edt(~change) <= tolerance


def _iou(predicted: np.ndarray, truth: np.ndarray) -> float | None:
    union = (predicted | truth).sum()
    return None if not truth.any() else float((predicted & truth).sum() / union)


def score_movable_mask(
    movable: np.ndarray, labels: LabelMasks, sky: np.ndarray | None = None, threshold: float = 0.5
) -> MaskScores:
    """Score a movable mask (H, W) in [0, 1] against ``labels`` on the scored pixels.

    ``sky`` is the segmenter's own sky mask; without one the sky IoU compares the whole movable mask with the sky and
    the water IoU is not computed. Land inside the mask is the fraction of labelled land pixels above ``threshold``;
    cloud inclusion the fraction of labelled cloud pixels above it.
    """
    if movable.shape != labels.sky.shape:
        raise ValueError(f"mask is {movable.shape} but the labels are {labels.sky.shape}: render them at its size.")
    scored = labels.scored
    moving = (movable >= threshold) & scored
    sky_found = moving if sky is None else (sky >= threshold) & scored
    water_found = None if sky is None else moving & ~sky_found
    land = labels.land & scored
    clouds = labels.cloud & scored
    return MaskScores(
        sky_iou=_iou(sky_found, labels.sky & scored),
        water_iou=None if water_found is None else _iou(water_found, labels.water & scored),
        land_in_mask=float((moving & land).sum() / max(1, land.sum())),
        cloud_included=float((moving & clouds).sum() / clouds.sum()) if clouds.any() else None,
    )


def label_files(folder: str | os.PathLike) -> dict[str, Path]:
    """Photo file name -> label file, for every ``*.json`` in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"Label folder '{folder}' does not exist.")
    return {load_labels(path).get("photo", path.stem): path for path in sorted(folder.glob("*.json"))}


MASK_COLUMNS = ("photo", "method", "sky IoU", "water IoU", "land in mask %", "clouds included %", "seconds")
Segmenter = Callable[[Image.Image], "SegmentationResult"]


def _percent(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def _summary_rows(rows: Sequence[Mapping], methods: Sequence[str]) -> list[dict]:
    """Per method: the median and the worst photo of every score (worst = lowest IoU, most land)."""
    summary = []
    for method in methods:
        mine = [row for row in rows if row["method"] == method]
        for label, pick_iou, pick_land in (("median", np.median, np.median), ("worst", np.min, np.max)):
            row = {"photo": f"({label})", "method": method}
            for column, pick in (
                ("sky IoU", pick_iou),
                ("water IoU", pick_iou),
                ("land in mask %", pick_land),
                ("clouds included %", pick_iou),
                ("seconds", pick_land),
            ):
                present = [r[column] for r in mine if r[column] is not None]
                row[column] = float(pick(present)) if present else None
            summary.append(row)
    return summary


# ----------------------------------------------------------------------------------------------------------------------
# Variants: the same photo in another form, with its labels moved alike (is the segmenter robust, or tuned to the set?)


SMALL_VARIANT_SIDE_PX = 320  # "small": the photo this long, as a web thumbnail
INNER_VARIANT_SHARE = (0.84, 0.78)  # "inner": the centre this share of the width and height (a straightened photo)
PORTRAIT_VARIANT_ASPECT = 9 / 16  # "portrait": the middle of the width, as wide as this share of the full height
LOWER_VARIANT_TOP = 1 / 3  # "lower": the photo below this share of its height
RANDOM_CROPS = 4  # "crop1" .. "crop4": a crop of the photo as someone might frame it ...
RANDOM_CROP_SHARE = (0.6, 0.95)  # ... each side a random share of the photo's in this range, at a random place


def _label_arrays(labels: LabelMasks, change: Callable[[np.ndarray], np.ndarray]) -> LabelMasks:
    return LabelMasks(*(change(getattr(labels, field.name)) for field in dataclasses.fields(LabelMasks)))


def _original(photo: Image.Image, labels: LabelMasks) -> tuple[Image.Image, LabelMasks]:
    return photo, labels


def _greyscale(photo: Image.Image, labels: LabelMasks) -> tuple[Image.Image, LabelMasks]:
    return photo.convert("L").convert("RGB"), labels


def _mirrored(photo: Image.Image, labels: LabelMasks) -> tuple[Image.Image, LabelMasks]:
    return ImageOps.mirror(photo), _label_arrays(labels, lambda mask: np.ascontiguousarray(mask[:, ::-1]))


def _small(photo: Image.Image, labels: LabelMasks) -> tuple[Image.Image, LabelMasks]:
    scale = SMALL_VARIANT_SIDE_PX / max(photo.size)
    size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))

    def shrink(mask: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(mask).resize(size, Image.Resampling.NEAREST))

    return photo.resize(size, Image.Resampling.LANCZOS), _label_arrays(labels, shrink)


def crop_labelled(
    photo: Image.Image, labels: LabelMasks, box: tuple[int, int, int, int]
) -> tuple[Image.Image, LabelMasks]:
    """``photo`` and its ``labels`` cut to ``box`` (left, top, right, bottom, in the photo's pixels)."""
    left, top, right, bottom = box
    return photo.crop(box), _label_arrays(labels, lambda mask: mask[top:bottom, left:right].copy())


def _inner(photo: Image.Image, labels: LabelMasks) -> tuple[Image.Image, LabelMasks]:
    width, height = photo.size
    left, top = round(width * (1 - INNER_VARIANT_SHARE[0]) / 2), round(height * (1 - INNER_VARIANT_SHARE[1]) / 2)
    return crop_labelled(photo, labels, (left, top, width - left, height - top))


def _portrait(photo: Image.Image, labels: LabelMasks) -> tuple[Image.Image, LabelMasks]:
    width, height = photo.size
    side = min(width, round(height * PORTRAIT_VARIANT_ASPECT))
    left = (width - side) // 2
    return crop_labelled(photo, labels, (left, 0, left + side, height))


def _lower(photo: Image.Image, labels: LabelMasks) -> tuple[Image.Image, LabelMasks]:
    width, height = photo.size
    return crop_labelled(photo, labels, (0, round(height * LOWER_VARIANT_TOP), width, height))


PHOTO_VARIANTS: dict[str, Callable[[Image.Image, LabelMasks], tuple[Image.Image, LabelMasks]]] = {
    "original": _original,
    "greyscale": _greyscale,  # colour cues gone
    "mirrored": _mirrored,  # should score as the original: no left-right bias
    "small": _small,  # pixel-sized rules at another scale
    "inner": _inner,  # less sky above the land: the top rows are no longer surely sky
    "portrait": _portrait,  # an upright crop, as phones show: fewer columns to find a skyline or a shore in
    "lower": _lower,  # little or no sky left: the land reaches the top rows, which are not sky at all
}


def _random_crop(photo: Image.Image, labels: LabelMasks, stem: str, number: int) -> tuple[Image.Image, LabelMasks]:
    """Crop ``number`` of the photo named ``stem``: the same on every machine and run, another for every name and
    number. The fixed forms keep the photo's composition; a framing nobody chose tests what the set was not tuned to."""
    rng = np.random.default_rng([zlib.crc32(stem.encode()), number])
    width, height = photo.size
    crop_width = round(width * rng.uniform(*RANDOM_CROP_SHARE))
    crop_height = round(height * rng.uniform(*RANDOM_CROP_SHARE))
    left, top = int(rng.integers(0, width - crop_width + 1)), int(rng.integers(0, height - crop_height + 1))
    return crop_labelled(photo, labels, (left, top, left + crop_width, top + crop_height))


VARIANT_NAMES = (*PHOTO_VARIANTS, *(f"crop{number}" for number in range(1, RANDOM_CROPS + 1)))


def photo_variant(variant: str, stem: str, photo: Image.Image, labels: LabelMasks) -> tuple[Image.Image, LabelMasks]:
    """``photo`` (named ``stem``) and its ``labels`` in the form ``variant`` (one of VARIANT_NAMES)."""
    if variant in PHOTO_VARIANTS:
        return PHOTO_VARIANTS[variant](photo, labels)
    return _random_crop(photo, labels, stem, int(variant.removeprefix("crop")))


def _method_label(method: str, variant: str) -> str:
    return method if variant == "original" else f"{method}, {variant}"


def evaluate_masks(
    photos: Mapping[str, Path],
    labels: Mapping[str, Path],
    segmenters: Mapping[str, Segmenter],
    variants: Sequence[str] = ("original",),
) -> EvaluationResult:
    """Score every segmenter on every labelled photo: one row per photo and segmenter, then median / worst rows.

    ``photos``: stem -> photo file; ``labels``: photo file name or stem -> label file (`label_files`). Photos
    without a label file are an error naming them, so a typo never silently shrinks the set. ``variants`` (names in
    `VARIANT_NAMES`: the fixed forms of `PHOTO_VARIANTS` and random crops) score each photo also in other forms, its
    labels moved alike; their rows name the method as "region, greyscale" and so on, with median and worst rows of
    their own.
    """
    from ..animation.images import load_image
    from .results import EvaluationInputError, EvaluationResult

    unknown = sorted(set(variants) - set(VARIANT_NAMES))
    if unknown:
        raise EvaluationInputError(f"unknown variant {', '.join(unknown)}; choose from {', '.join(VARIANT_NAMES)}.")
    by_stem = {Path(name).stem: path for name, path in labels.items()}
    unlabelled = sorted(set(photos) - set(by_stem))
    if unlabelled:
        raise EvaluationInputError(f"no label file for {', '.join(unlabelled)}: draw one (see mask_labels).")
    rows = []
    methods = [_method_label(method, variant) for variant in variants for method in segmenters]
    for stem, photo_path in photos.items():
        original = load_image(photo_path)
        original_truth = render_labels(by_stem[stem], size=original.size)
        for variant in variants:
            photo, truth = photo_variant(variant, stem, original, original_truth)
            for method, segment in segmenters.items():
                start = time.perf_counter()
                found = segment(photo)
                seconds = time.perf_counter() - start
                scores = score_movable_mask(found.dynamic_mask, truth, sky=found.sky_mask)
                rows.append(
                    {
                        "photo": stem,
                        "method": _method_label(method, variant),
                        "sky IoU": scores.sky_iou,
                        "water IoU": scores.water_iou,
                        "land in mask %": _percent(scores.land_in_mask),
                        "clouds included %": _percent(scores.cloud_included),
                        "seconds": seconds,
                    }
                )
    result = EvaluationResult(command="masks", columns=MASK_COLUMNS, rows=rows + _summary_rows(rows, methods))
    result.protocol.update(
        {
            "photos": len(photos),
            "scoring": f"pixels within {BORDER_TOLERANCE_PX} px (at the drawing's size) of a drawn border and "
            "'ignore' shapes are left out; a mask pixel counts when >= 0.5",
            "land in mask": "share of the labelled land pixels inside the movable mask (lower is better)",
            "clouds included": "share of the labelled cloud pixels inside the movable mask",
            "water IoU": "the movable mask minus the segmenter's sky, against the labelled water",
            "variants": ", ".join(variants),
        }
    )
    return result
