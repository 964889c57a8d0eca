"""Sky and water segmentation: which pixels may move (DESIGN decision 5; reference section 5.9).

The authors used a CSAIL ADE20K-150 network and called a pixel movable when the best of the classes sky (2) and
water (21) beats the best of all other classes. We keep that rule but run any transformers ADE20K semantic
segmentation model (SegFormer-B0 by default: 3.7 M parameters, fast on a CPU) and pick the classes by NAME from its
`config.id2label`, so models with other class orders work. When no model can be loaded, `SegmenterUnavailableError`
tells the user to supply a mask; `heuristic_segment` is a documented colour/position fallback used only on request.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from ..networks.hub import hub_reachable
from .images import ImageInput, load_image

__all__ = [
    "DEFAULT_MOVABLE_CLASSES",
    "DEFAULT_SEGMENTER_ID",
    "OPTIONAL_WATER_CLASSES",
    "SegmentationResult",
    "SegmenterUnavailableError",
    "SkySegmenter",
    "erode",
    "feather",
    "heuristic_segment",
    "heuristic_sky_mask",
    "horizon_from_sky_mask",
]

logger = logging.getLogger(__name__)

DEFAULT_SEGMENTER_ID = "nvidia/segformer-b0-finetuned-ade-512-512"  # ADE20K-150, 3.7 M parameters
DEFAULT_MOVABLE_CLASSES = ("sky", "water")  # official `movable_classes: [2, 21]` (0-based ADE20K-150)
OPTIONAL_WATER_CLASSES = ("sea", "river", "lake", "waterfall")  # official EXTENDED_CLASSES has sea, waterfall
SKY_CLASS = "sky"
HORIZON_OFFSET_PX = 10  # official: horizon = lowest sky row + 10 px, normalised by the height

MaskArray = np.ndarray | torch.Tensor


class SegmenterUnavailableError(RuntimeError):
    """The segmentation model could not be loaded (offline, not cached, or not installed)."""


@dataclass
class SegmentationResult:
    """Masks at the input image's size (H, W), float32 in [0, 1] with 1 = the named region.

    Attributes:
        dynamic_mask: movable pixels (sky, water and any extra movable classes).
        sky_mask: sky pixels only (the horizon and separate sky motion use it).
        labels: (H, W) integer class id of every pixel (argmax), ids as in `label_names`.
        label_names: id -> name of the model's classes.
        horizon: normalised row in [0, 1] below which reflections mirror the sky (0 when there is no sky).
        movable_class_ids: the class ids counted as movable.
    """

    dynamic_mask: np.ndarray
    sky_mask: np.ndarray
    labels: np.ndarray
    label_names: dict[int, str]
    horizon: float
    movable_class_ids: tuple[int, ...] = field(default_factory=tuple)

    @property
    def water_mask(self) -> np.ndarray:
        """Movable pixels that are not sky (water, sea, ...), e.g. for separate water motion."""
        return np.clip(self.dynamic_mask - self.sky_mask, 0.0, 1.0)


# ----------------------------------------------------------------------------------------------------------------------
# Mask helpers


def _as_numpy_mask(mask: MaskArray) -> tuple[np.ndarray, torch.Tensor | None]:
    if isinstance(mask, torch.Tensor):
        if mask.dim() != 2:
            raise ValueError(f"Mask must be (H, W), got {tuple(mask.shape)}.")
        return mask.detach().float().cpu().numpy(), mask
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"Mask must be (H, W), got {mask.shape}.")
    return mask.astype(np.float32, copy=False), None


def _like(values: np.ndarray, template: torch.Tensor | None) -> MaskArray:
    if template is None:
        return values.astype(np.float32, copy=False)
    return torch.from_numpy(values).to(
        device=template.device, dtype=template.dtype if template.is_floating_point() else torch.float32
    )


def erode(mask: MaskArray, pixels: float) -> MaskArray:
    """Shrink the movable region by `pixels` (Euclidean distance), keeping soft values inside.

    Why: segmentation edges bleed into land (tree tops, roofs); eroding before animating keeps those still. The
    image border is not an edge (the sky goes on beyond the frame), so only boundaries with land shrink. The
    official `erode` option crashes for any value > 0 (undefined `dilation_kernel`), so it was always 0.
    Accepts a numpy array or tensor (H, W) in [0, 1] and returns the same type.
    """
    values, template = _as_numpy_mask(mask)
    if pixels <= 0:
        return _like(values.copy(), template)
    inside = values >= 0.5
    distance_to_outside = ndimage.distance_transform_edt(inside)
    eroded = np.where(distance_to_outside > pixels, values, 0.0).astype(np.float32)
    return _like(eroded, template)


def feather(mask: MaskArray, pixels: float) -> MaskArray:
    """Soften mask edges with a Gaussian of sigma = pixels / 2, so the ramp is about `pixels` wide on each side.

    Why: compositing animated regions onto the photo with a hard mask shows a seam; a soft edge hides it.
    """
    values, template = _as_numpy_mask(mask)
    if pixels <= 0:
        return _like(values.copy(), template)
    blurred = ndimage.gaussian_filter(values.astype(np.float32), sigma=pixels / 2.0, mode="nearest")
    return _like(np.clip(blurred, 0.0, 1.0), template)


def horizon_from_sky_mask(sky_mask: MaskArray, offset_px: int = HORIZON_OFFSET_PX) -> float:
    """Official horizon rule: (lowest row containing sky + offset_px) / H, clipped to 1; 0 when there is no sky.

    The official code applies it to the G-resolution crop (256 or 512 px), where 10 px is 4 % or 2 % of the
    height: call this on the mask at the resolution the homography will be used at.
    """
    values, _ = _as_numpy_mask(sky_mask)
    rows = np.flatnonzero((values >= 0.5).any(axis=1))
    if rows.size == 0:
        return 0.0
    return float(min(1.0, (rows[-1] + offset_px) / values.shape[0]))


# ----------------------------------------------------------------------------------------------------------------------
# Model-based segmentation


def _label_synonyms(label: str) -> set[str]:
    """'water' -> {'water'}; CSAIL style 'sea, ocean' or 'bed ' -> {'sea', 'ocean'} / {'bed'} (case-insensitive)."""
    return {part.strip().lower() for part in re.split(r"[,;]", str(label)) if part.strip()}


def _class_ids(id2label: dict[int, str], names: Sequence[str], model_id: str) -> tuple[int, ...]:
    ids = []
    for name in names:
        wanted = name.strip().lower()
        matches = [index for index, label in id2label.items() if wanted in _label_synonyms(label)]
        if not matches:
            first_names = [str(id2label[index]).split(",")[0].strip() for index in sorted(id2label)]
            available = ", ".join(first_names[:40]) + (", ..." if len(first_names) > 40 else "")
            raise ValueError(
                f"The segmentation model '{model_id}' has no class named '{name}'. Its classes include: {available}. "
                f"Use an ADE20K-150 model (e.g. {DEFAULT_SEGMENTER_ID}) or pick class names it has."
            )
        ids.extend(matches)
    return tuple(sorted(set(ids)))


def _unavailable_message(model_id: str, reason: str) -> str:
    return (
        f"Could not load the segmentation model '{model_id}' ({reason}). Without it the sky and water cannot be "
        "found automatically. Supply a mask instead (`--mask mask.png` on the command line, `mask=` in Python, or "
        "paint one in the app), or ask for the colour heuristic explicitly (`heuristic_segment`, CLI "
        f"`--segmentation heuristic`). To use the model, download it once while online (`hf download {model_id}`) "
        "and keep HF_HUB_OFFLINE=1 afterwards, or pass a local folder holding a saved model."
    )


class SkySegmenter:
    """A transformers ADE20K semantic-segmentation model that finds the movable sky and water.

    Args:
        model_id: hub id or local folder of an `AutoModelForSemanticSegmentation` model with ADE20K class names.
        movable_classes: class names that may move (matched against `id2label`, case-insensitive; CSAIL-style
            "a, b" synonym labels work). Default sky and water; add `OPTIONAL_WATER_CLASSES` for sea/river/lake.
        device: where to run the model (default CPU).
        revision: hub revision to pin.

    Raises:
        SegmenterUnavailableError: weights not cached and not downloadable (e.g. HF_HUB_OFFLINE=1), or
            transformers missing; the message says how to proceed with a mask.
        ValueError: the model lacks one of the requested classes.
    """

    def __init__(
        self,
        model_id: str | os.PathLike = DEFAULT_SEGMENTER_ID,
        movable_classes: Sequence[str] = DEFAULT_MOVABLE_CLASSES,
        device: str | torch.device | None = None,
        revision: str | None = None,
    ):
        self.model_id = os.fspath(model_id)
        try:
            from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation
        except ImportError as error:
            raise SegmenterUnavailableError(
                _unavailable_message(self.model_id, "transformers is not installed: pip install transformers")
            ) from error

        def load(**options: bool) -> None:
            self.processor = AutoImageProcessor.from_pretrained(self.model_id, revision=revision, **options)
            self.model = AutoModelForSemanticSegmentation.from_pretrained(self.model_id, revision=revision, **options)

        try:
            try:
                load(local_files_only=True)  # a local folder or the hub cache: no network needed
            except OSError:
                from huggingface_hub import constants

                if not (os.path.isdir(self.model_id) or constants.HF_HUB_OFFLINE or hub_reachable()):
                    raise OSError(f"{constants.ENDPOINT} cannot be reached and the model is not cached") from None
                load()
        except (OSError, ValueError) as error:  # offline / not cached / not found; ValueError: unknown architecture
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise SegmenterUnavailableError(_unavailable_message(self.model_id, reason)) from error
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.model.to(self.device).eval().requires_grad_(False)
        self.id2label = {int(index): str(label) for index, label in self.model.config.id2label.items()}
        self.movable_class_ids = _class_ids(self.id2label, movable_classes, self.model_id)
        self.sky_class_ids = _class_ids(self.id2label, (SKY_CLASS,), self.model_id)
        if len(self.id2label) != 150:
            logger.warning(
                "Segmentation model '%s' has %d classes, not ADE20K's 150; classes are matched by name.",
                self.model_id,
                len(self.id2label),
            )

    @torch.inference_mode()
    def class_logits(self, image: Image.Image) -> torch.Tensor:
        """Raw class scores (C, h, w) at the model's output resolution (SegFormer: input / 4)."""
        inputs = self.processor(images=image, return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self.device, dtype=next(self.model.parameters()).dtype)
        return self.model(pixel_values=pixel_values).logits[0].float()

    def segment(self, image: ImageInput, horizon_offset_px: int = HORIZON_OFFSET_PX) -> SegmentationResult:
        """Masks, labels and horizon for one image, at the image's own size."""
        pil = load_image(image)
        return _result_from_logits(
            self.class_logits(pil),
            size=pil.size,
            movable_ids=self.movable_class_ids,
            sky_ids=self.sky_class_ids,
            label_names=self.id2label,
            horizon_offset_px=horizon_offset_px,
        )

    __call__ = segment


def _margin(logits: torch.Tensor, ids: Sequence[int]) -> torch.Tensor:
    """max over `ids` minus max over the other classes: > 0 exactly where a class in `ids` is the argmax."""
    selected = torch.zeros(logits.shape[0], dtype=torch.bool, device=logits.device)
    selected[list(ids)] = True
    if selected.all():
        return torch.full(logits.shape[1:], float("inf"), device=logits.device)
    return logits[selected].amax(dim=0) - logits[~selected].amax(dim=0)


def _result_from_logits(
    logits: torch.Tensor,
    size: tuple[int, int],
    movable_ids: Sequence[int],
    sky_ids: Sequence[int],
    label_names: dict[int, str],
    horizon_offset_px: int = HORIZON_OFFSET_PX,
) -> SegmentationResult:
    """Apply the official movable rule to class scores (C, h, w) and bring everything to `size` = (W, H).

    Official: softmax probabilities are resized to full size, then "max over movable > max over the rest". The
    softmax is monotonic, so comparing logits gives the same decision. Ours: compute the margin at the model's
    output resolution and resize that single map bilinearly: memory O(H*W) instead of O(C*H*W) for a 12 MP photo,
    and the same decision away from region borders.
    """
    width, height = size
    margins = torch.stack([_margin(logits, movable_ids), _margin(logits, sky_ids)])  # (2, h, w)
    margins = torch.nan_to_num(margins, posinf=1e4, neginf=-1e4)
    upsampled = F.interpolate(margins[None], size=(height, width), mode="bilinear", align_corners=False)[0]
    dynamic_mask = (upsampled[0] > 0).float().cpu().numpy()
    sky_mask = (upsampled[1] > 0).float().cpu().numpy()
    argmax = logits.argmax(dim=0).to(torch.int32)[None, None].float()
    labels = F.interpolate(argmax, size=(height, width), mode="nearest")[0, 0].to(torch.int32).cpu().numpy()
    return SegmentationResult(
        dynamic_mask=dynamic_mask,
        sky_mask=sky_mask,
        labels=labels,
        label_names=dict(label_names),
        horizon=horizon_from_sky_mask(sky_mask, horizon_offset_px),
        movable_class_ids=tuple(movable_ids),
    )


# ----------------------------------------------------------------------------------------------------------------------
# Heuristic fallback (explicit only)

HEURISTIC_WORKING_SIDE_PX = 256  # decisions are made on a small copy: fast, and texture is measured at a known scale
HEURISTIC_LABELS = {0: "other", 1: "sky", 2: "water"}
TEXTURE_WINDOW_PX = 7  # local luma std window: smooth (sky-like) pixels are at least half a window from an edge
OCCLUDER_WIDTH_FRACTION = 0.02  # widest wire/cable/branch that may cut the sky in two, as a fraction of the side
OCCLUDER_COLOUR_TOLERANCE = 0.04  # largest RGB step (0..1) across a wire between two parts of one sky
SKY_COLOURED_WATER_GAP = 0.1  # fraction of the height below the sky line before sky-coloured pixels may be water


def _rgb_features(image: Image.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """RGB in [0, 1], brightness (HSV value), saturation and local texture (std of luma in a 7x7 window)."""
    rgb = np.asarray(image, dtype=np.float32) / 255.0
    value = rgb.max(axis=2)
    saturation = (value - rgb.min(axis=2)) / np.maximum(value, 1e-6)
    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    mean = ndimage.uniform_filter(luma, size=TEXTURE_WINDOW_PX, mode="nearest")
    mean_sq = ndimage.uniform_filter(luma * luma, size=TEXTURE_WINDOW_PX, mode="nearest")
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


def heuristic_sky_mask(image: ImageInput) -> np.ndarray:
    """A colour/position guess of the sky, float32 (H, W) in {0, 1}. Use only when no model or mask is available.

    Rule: a pixel is sky-coloured when it is bluish (blue above red and about green) or bright and pale (haze,
    overcast, clouds), and smooth (local luma std below 0.035 in a 7x7 window, at 256 px); the sky is the union of
    sky-coloured regions that touch the top edge, with enclosed holes (clouds, birds, sun) filled. It fails on
    night scenes, dark storm clouds, saturated sunsets and skies that do not reach the top edge; a painted mask or
    the segmentation model is always better.
    """
    pil = load_image(image)
    return _to_size(_sky_at_working_size(_working_copy(pil)), pil.size)


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


def heuristic_segment(image: ImageInput, horizon_offset_px: int = HORIZON_OFFSET_PX) -> SegmentationResult:
    """`heuristic_sky_mask` plus water: below the horizon, smooth pixels that mirror the sky's colour.

    Water rule: for a row y below the sky line r (the lowest row where sky covers 5 % of the width), the mirrored
    row is 2r - y; a pixel is water when its mirror is sky and its chromaticity matches the mirror (reflections
    are darker but keep their hue), or when it is sky-coloured itself and at least 10 % of the height below r.
    Only wide regions with a straight upper edge (far shore or sea horizon) are kept. The rule is deliberately
    conservative: water it misses stays still, which looks natural, whereas animating a hazy mountain does not.
    Labels: 0 other, 1 sky, 2 water. Explicit fallback only (see `heuristic_sky_mask` for its limits).
    """
    pil = load_image(image)
    small = _working_copy(pil)
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
    sky_mask = _to_size(sky_small, pil.size)
    water_mask = _to_size(water, pil.size) * (1.0 - sky_mask)
    labels_full = (sky_mask + 2.0 * water_mask).astype(np.int32)
    return SegmentationResult(
        dynamic_mask=np.clip(sky_mask + water_mask, 0.0, 1.0),
        sky_mask=sky_mask,
        labels=labels_full,
        label_names=dict(HEURISTIC_LABELS),
        horizon=horizon_from_sky_mask(sky_mask, horizon_offset_px),
        movable_class_ids=(1, 2),
    )
