"""Sky and water segmentation: which pixels may move.

The authors used a CSAIL ADE20K-150 network and called a pixel movable when the best of the classes sky (2) and
water (21) beats the best of all other classes. We keep that rule but run any transformers ADE20K semantic
segmentation model (SegFormer-B0 by default: 3.7 M parameters, fast on a CPU) and pick the classes by NAME from its
`config.id2label`, so models with other class orders work. When no model can be loaded, `SegmenterUnavailableError`
tells the user to supply a mask, and the pipeline falls back (with a warning) to `heuristic_segment`: the offline
sky-region segmenter of `sky_region`, which needs no weights. The older colour/position rule stays reachable as
``heuristic_segment(..., method="colour")``, only to compare against.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from ..networks.hub import WeightsUnavailableError, hub_reachable
from .images import ImageInput, load_image
from .sky_colour import find_colour_regions
from .sky_region import find_sky_regions

__all__ = [
    "DEFAULT_MOVABLE_CLASSES",
    "DEFAULT_SEGMENTER_ID",
    "HEURISTIC_METHODS",
    "OPTIONAL_WATER_CLASSES",
    "SegmentationResult",
    "SegmenterUnavailableError",
    "SkySegmenter",
    "colour_segment",
    "erode",
    "feather",
    "heuristic_segment",
    "heuristic_sky_mask",
    "horizon_from_sky_mask",
    "region_segment",
]

logger = logging.getLogger(__name__)

DEFAULT_SEGMENTER_ID = "nvidia/segformer-b0-finetuned-ade-512-512"  # ADE20K-150, 3.7 M parameters
DEFAULT_MOVABLE_CLASSES = ("sky", "water")  # official `movable_classes: [2, 21]` (0-based ADE20K-150)
OPTIONAL_WATER_CLASSES = ("sea", "river", "lake", "waterfall")  # official EXTENDED_CLASSES has sea, waterfall
SKY_CLASS = "sky"
HORIZON_OFFSET_PX = 10  # official: horizon = lowest sky row + 10 px, normalised by the height

MaskArray = np.ndarray | torch.Tensor


class SegmenterUnavailableError(WeightsUnavailableError):
    """The segmentation model could not be loaded (offline, not cached, or not installed); ``cause`` is
    "'model id': why" and, for a hub model, the `hf download` that fetches it."""


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
        confidence: optional (H, W) float32 in [0, 1]: how sure the segmenter is of each pixel (1 sure); low along
            the borders, so it can widen the blend there. None when the segmenter gives none (the ADE20K model).
        uncertainty: None when the masks can be trusted, else a sentence saying why not (fog, night, low
            contrast); uncertain pixels were left out of ``dynamic_mask``, and a painted mask is the better choice.
    """

    dynamic_mask: np.ndarray
    sky_mask: np.ndarray
    labels: np.ndarray
    label_names: dict[int, str]
    horizon: float
    movable_class_ids: tuple[int, ...] = field(default_factory=tuple)
    confidence: np.ndarray | None = None
    uncertainty: str | None = None

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


def _unavailable(model_id: str, reason: str, downloadable: bool = True) -> SegmenterUnavailableError:
    message = (
        f"Could not load the segmentation model '{model_id}' ({reason}). Without it the sky and water cannot be "
        "found automatically. Supply a mask instead (`--mask mask.png` on the command line, `mask=` in Python, or "
        "paint one in the app), or use the offline sky-region heuristic (`heuristic_segment`, CLI "
        "`--segmentation heuristic`), which needs no download. To use the model, download it once while online "
        f"(`hf download {model_id}`) and keep HF_HUB_OFFLINE=1 afterwards, or pass a local folder holding a saved "
        "model."
    )
    fetch = f"; download it once while online: `hf download {model_id}`" if downloadable else ""
    return SegmenterUnavailableError(message, cause=f"'{model_id}': {reason}{fetch}")


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
            reason = "transformers is not installed: pip install transformers"
            raise _unavailable(self.model_id, reason, downloadable=False) from error

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
            raise _unavailable(self.model_id, reason, downloadable=not os.path.isdir(self.model_id)) from error
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
# Offline fallback: the sky-region segmenter

HEURISTIC_LABELS = {0: "other", 1: "sky", 2: "water"}


def region_segment(image: ImageInput, horizon_offset_px: int = HORIZON_OFFSET_PX) -> SegmentationResult:
    """Sky (clouds included) and water found as regions, without any downloaded weights (see `sky_region`).

    Labels: 0 other, 1 sky, 2 water. On a photo whose sky cannot be told from the land (fog, night, low contrast)
    nothing moves and ``uncertainty`` says why.
    """
    regions = find_sky_regions(load_image(image))
    return _heuristic_result(
        regions.sky, regions.water, horizon_offset_px, confidence=regions.confidence, uncertainty=regions.uncertainty
    )


def colour_segment(image: ImageInput, horizon_offset_px: int = HORIZON_OFFSET_PX) -> SegmentationResult:
    """The older colour and position rule (`sky_colour`), kept only to compare against. Labels as `region_segment`."""
    return _heuristic_result(*find_colour_regions(load_image(image)), horizon_offset_px)


def _heuristic_result(
    sky: np.ndarray,
    water: np.ndarray,
    horizon_offset_px: int,
    confidence: np.ndarray | None = None,
    uncertainty: str | None = None,
) -> SegmentationResult:
    """A `SegmentationResult` from sky and water masks (H, W) in {0, 1}: where both are set, the pixel is sky."""
    water = water * (1.0 - sky)
    return SegmentationResult(
        dynamic_mask=np.clip(sky + water, 0.0, 1.0),
        sky_mask=sky,
        labels=(sky + 2.0 * water).astype(np.int32),
        label_names=dict(HEURISTIC_LABELS),
        horizon=horizon_from_sky_mask(sky, horizon_offset_px),
        movable_class_ids=(1, 2),
        confidence=confidence,
        uncertainty=uncertainty,
    )


HeuristicMethod = Literal["region", "colour"]
HEURISTIC_METHODS = ("region", "colour")


def heuristic_segment(
    image: ImageInput, horizon_offset_px: int = HORIZON_OFFSET_PX, method: HeuristicMethod = "region"
) -> SegmentationResult:
    """The offline segmentation: ``region`` (`region_segment`, the default) or ``colour`` (the older colour and
    position rule of `sky_colour`, kept only to compare against: it misses clouds, storm and sunset skies)."""
    if method == "region":
        return region_segment(image, horizon_offset_px)
    if method == "colour":
        return colour_segment(image, horizon_offset_px)
    raise ValueError(f"method must be one of {', '.join(HEURISTIC_METHODS)}, got {method!r}.")


def heuristic_sky_mask(image: ImageInput, method: HeuristicMethod = "region") -> np.ndarray:
    """The sky of `heuristic_segment`, float32 (H, W) in {0, 1}."""
    return heuristic_segment(image, method=method).sky_mask
