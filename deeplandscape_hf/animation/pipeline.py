"""Animate a real landscape photo: segment, invert into G, fine-tune, warp S^dyn per frame, change time of day.

Paper section 3.3-3.4 and supplement section 2; mirrors the authors' ``inference/encode_and_animate.py``
with the diffusers calling conventions: ``pipe(image, ..., generator=...,
output_type=...)`` returns a ``DeepLandscapePipelineOutput``; long loops run under ``self.progress_bar`` (tqdm, so
Gradio's ``track_tqdm`` shows them). A plain class, not ``DiffusionPipeline``.

Beyond the paper: output at the photo's own resolution (``compositing.py``), an inversion cache
so a second style or motion for the same photo skips inversion, seamless loops, GIF/WebP through ``video.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from scipy import ndimage
from torch import nn
from tqdm.auto import tqdm

from ..motion.styles import StyleVocabulary, style_level_indices
from ..networks.generator import DeepLandscapeGenerator
from ..networks.hub import IncompleteModelError, ModelNotFoundError, default_model_path, resolve_model_folder
from ..networks.precision import DtypeLike, autocast, resolve_dtype
from . import inversion as inv
from .compositing import MOTION_SOURCES, Compositor, crop_mask
from .images import (
    DEFAULT_MAX_PIXELS,
    MAX_IN_RESOLUTION,
    CropBox,
    ImageInput,
    MaskInput,
    load_image,
    load_mask,
    official_resize_and_crop,
    parse_max_side,
    pil_to_tensor,
    tensor_to_pil,
)
from .segmentation import DEFAULT_SEGMENTER_ID, SegmentationResult

logger = logging.getLogger(__name__)

__all__ = [
    "PIPELINE_CONFIG_NAME",
    "DeepLandscapePipeline",
    "DeepLandscapePipelineOutput",
    "InvertedPhoto",
    "PipelineConfig",
]

PIPELINE_CONFIG_NAME = "pipeline.json"
ENCODER_SUBFOLDER = "encoder"
DYNAMICS_SUBFOLDER = "dynamics"
OUTPUT_TYPES = ("pil", "np", "pt")
# "model": the segmenter or an error; "auto": the segmenter, else the heuristic with a warning that says so.
SEGMENTATION_MODES = ("auto", "model", "heuristic", "none")
# "auto": VGG19 when its ImageNet weights are cached, else none with a warning that says so.
PERCEPTUAL_KINDS = ("auto", "vgg", "lpips", "none")
HORIZON_OFFSET_PX = 10  # official: lowest sky row + 10 px, at the G-resolution crop (256/512 px)
HORIZON_OFFSET_REFERENCE = 256  # below this resolution the 10 px offset shrinks proportionally
MOVABLE_THRESHOLD = 0.5  # a mask value counts as movable above this

ImageLike = ImageInput
ProgressFactory = Callable[[int, str], Any]


# --------------------------------------------------------------------------------------------------------- config
@dataclass
class PipelineConfig:
    """``pipeline.json``: what the pipeline needs beyond the networks. Missing keys take these defaults.

    Attributes:
        resolution: generator resolution in px (informational; the loaded generator is authoritative).
        segmenter: transformers ADE20K semantic-segmentation model (hub id or folder) for ``segmentation="auto"``.
        dynamic_classes: ADE20K class names that may move (official movable classes: sky, water).
        style_strength: network A's t toward a style target; None: 0.7 up to 256 px, 0.3 above (official configs).
        default_mode, default_motion, default_style, default_preset, num_frames, fps: defaults of ``__call__``.
        motion_source: what moves the sky and water in composited frames: ``hybrid`` (the photo's own texture along
            the motion's flow field, the generator's light on top) or ``generator`` (the paper's generator output).
        max_in_resolution: first resize of the official preprocessing (shorter side, px).
        mask_erosion_px: shrink the movable mask by this many photo pixels before use (keeps tree tops still).
        feather_px: soft mask edge for compositing, in output pixels.
        max_output_side: composited frames are at most this many px on their longer side (default 1920: H.264 that
            every browser plays); None, 0 or "full": the photo's own size, where memory allows. Larger photos are
            decoded straight at this size (``images.load_image``'s ``max_side``).
        max_input_pixels: photos whose header claims more pixels are refused, and so are large files with more
            pixels than ``images.MAX_PIXELS_PER_BYTE`` per byte (decompression bombs); None disables both checks.
        cache_size: inversions kept in memory for re-animation.
        presets: per-preset overrides of ``inversion.PRESETS`` fields, e.g. ``{"fast": {"fine_tune_iterations": 40}}``.
        styles: this model's style vocabulary (``styles.StyleVocabulary.to_json()``: name -> z_dyn target, strength,
            reachable), written by ``deeplandscape calibrate-styles``; None: the authors' vocabulary.
        fit_styles_to_photo: with a calibrated vocabulary, search on from each named style's target on the photo's
            own reconstruction toward the change the name promises (``style_calibration.fit_style_to_photo``: at
            most about a hundred generator frames per style, a fraction of a second for a 64 px model on a CPU,
            longer for larger models). Names calibration offers only photo by photo (their ``photo_distance``)
            rely on it. The authors' vocabulary is always used as they gave it.
    """

    resolution: int | None = None
    segmenter: str = DEFAULT_SEGMENTER_ID
    dynamic_classes: list[str] = field(default_factory=lambda: ["sky", "water"])
    style_strength: float | None = None
    default_mode: str = "eoifs"
    default_motion: str = "man1"
    default_style: str | None = None
    default_preset: str = "balanced"
    num_frames: int = 60
    fps: float = 30.0
    motion_source: str = "hybrid"
    max_in_resolution: int = MAX_IN_RESOLUTION
    mask_erosion_px: float = 0.0
    feather_px: float = 6.0
    max_output_side: int | str | None = 1920
    max_input_pixels: int | None = DEFAULT_MAX_PIXELS
    cache_size: int = 2
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    styles: dict[str, Any] | None = None
    fit_styles_to_photo: bool = True

    def __post_init__(self) -> None:
        if self.num_frames < 1 or not self.fps > 0:
            raise ValueError(f"num_frames must be >= 1 and fps > 0, got {self.num_frames} and {self.fps}.")
        if self.motion_source not in MOTION_SOURCES:
            raise ValueError(
                f"{PIPELINE_CONFIG_NAME} 'motion_source' must be one of {', '.join(MOTION_SOURCES)}; "
                f"got {self.motion_source!r}."
            )
        parse_max_side(self.max_output_side)  # a typo in pipeline.json fails on load, not after an inversion
        for name, overrides in self.presets.items():
            if name not in inv.PRESETS:
                raise ValueError(
                    f"{PIPELINE_CONFIG_NAME} 'presets' may adjust {', '.join(inv.PRESETS)}; unknown preset {name!r}."
                )
            inv.PRESETS[name].replace(**overrides)  # checks field names and values now, not in the middle of a run
        self.style_vocabulary()  # a malformed vocabulary fails at load, not at the first styled video

    def style_vocabulary(self) -> StyleVocabulary:
        """What the style names mean for this model."""
        return StyleVocabulary.from_json(self.styles)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PipelineConfig:
        """Tolerant: unknown keys are ignored with a warning (newer files stay loadable), missing keys default."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            logger.warning("%s: ignoring unknown keys %s", PIPELINE_CONFIG_NAME, unknown)
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> PipelineConfig:
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"Cannot read {path}: {error}.") from error
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a JSON object, got {type(values).__name__}.")
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def preset(self, name: str | inv.Preset) -> inv.Preset:
        """A preset from ``inversion.PRESETS`` with this file's overrides applied."""
        preset = inv.resolve_preset(name)
        if isinstance(name, str):
            preset = preset.replace(**self.presets.get(name.lower(), {}))
        return preset


# --------------------------------------------------------------------------------------------------------- outputs
@dataclass
class InvertedPhoto:
    """A photo prepared for animation: crop, masks, horizon and its inversion. Reusable for many animations.

    Attributes:
        photo: the upright RGB photo as loaded.
        crop: the generator-sized centre crop (official preprocessing); ``box`` is where it lies in ``photo``.
        dynamic_mask: (H, W) float32 in [0, 1] at the photo's size, 1 = animated.
        dynamic_mask_crop: (1, 1, R, R) the same under ``box`` at the generator's resolution.
        horizon: fraction of the crop's height; below it the motion is mirrored (water reflections).
        mode: inversion variant that ran (``eoifs`` falls back to ``eoif`` when nothing is movable).
        inversion: W+, noise maps and the (fine-tuned) generator.
        preset: the preset used (its ``render_batch_size`` also sets how many frames ``animate`` renders at once).
        cache_hit: the inversion came from the cache.
        timings, losses: per stage.
        fitted_styles: style conditions [z_dyn, t] found for this photo (``PipelineConfig.fit_styles_to_photo``),
            by (name, the model's condition), so that previews and videos of one style share one search.
    """

    photo: Image.Image
    crop: Image.Image
    box: CropBox
    dynamic_mask: np.ndarray
    dynamic_mask_crop: torch.Tensor
    horizon: float
    mode: str
    inversion: inv.InversionResult
    preset: inv.Preset
    cache_hit: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    fitted_styles: dict[tuple[str, tuple[float, ...]], torch.Tensor] = field(default_factory=dict)

    @property
    def has_motion(self) -> bool:
        return bool((self.dynamic_mask_crop > MOVABLE_THRESHOLD).any())


@dataclass
class DeepLandscapePipelineOutput:
    """What ``DeepLandscapePipeline.__call__`` returns.

    Attributes:
        frames: ``output_type="pil"``: list of T PIL images; ``"np"``: float32 (T, H, W, 3) in [0, 1];
            ``"pt"``: float32 (T, 3, H, W) in [0, 1]. Composited frames have the photo's size (capped by
            ``max_output_side``); raw frames (``composite=False``) the generator's.
        mask: the movable mask used, as an "L" PIL image at the frames' size (255 = animated).
        reconstruction: frame 0 of the generator before compositing (R x R): how well the photo was inverted.
        latents: ``{"w_plus": (1, num_ws, w_dim), "static_noise": [...], "dynamic_noise": [...]}``.
        timings: seconds per stage (``segmentation``, ``encode``, ``optimization``, ``fine_tune``, ``inversion``,
            ``render``, ``composite``, ``total``).
        losses: final loss per inversion stage (``inversion.InversionResult.losses``).
        fps: frame rate the frames are meant for.
        cache_hit: the inversion was reused from the cache (its stages did not run again).
        horizon: the horizon used for mirrored motion (fraction of the crop's height).
        mode: the inversion variant that ran.
    """

    frames: list[Image.Image] | np.ndarray | torch.Tensor
    mask: Image.Image
    reconstruction: Image.Image
    latents: dict[str, Any]
    timings: dict[str, float]
    losses: dict[str, float]
    fps: float
    cache_hit: bool = False
    horizon: float = 0.0
    mode: str = ""


# --------------------------------------------------------------------------------------------------------- helpers
def _horizon_offset_px(resolution: int) -> float:
    return HORIZON_OFFSET_PX * min(1.0, resolution / HORIZON_OFFSET_REFERENCE)


def _sky_from_mask(mask: np.ndarray) -> np.ndarray:
    """The parts of a movable mask that touch the top edge: the sky of a painted mask (water is below the land)."""
    movable = mask > MOVABLE_THRESHOLD
    labels, _ = ndimage.label(movable)
    top = np.unique(labels[0][labels[0] > 0])
    return np.isin(labels, top) if top.size else np.zeros_like(movable)


def _image_hash(photo: Image.Image) -> str:
    digest = hashlib.sha256(f"{photo.size}".encode())
    digest.update(np.asarray(photo, dtype=np.uint8).tobytes())
    return digest.hexdigest()[:32]


def _check_choice(value: str, choices: Sequence[str], what: str) -> str:
    key = str(value).lower()
    if key not in choices:
        raise ValueError(f"Unknown {what} {value!r}. Choose one of: {', '.join(choices)}.")
    return key


# --------------------------------------------------------------------------------------------------------- pipeline
class DeepLandscapePipeline:
    """Photo -> looping landscape video (DeepLandscape inference), with diffusers-style calling conventions.

    Args:
        generator: G (its weights are never changed; fine-tuning works on a copy).
        encoder: E for the E* inversion variants; None allows only ``mo`` and ``i2s``.
        dynamics: network A for time-of-day styles; None refuses ``style=``.
        config: ``PipelineConfig`` (``pipeline.json``).
        model_id: name used in cache keys and messages (set by ``from_pretrained``).
        cache_dir: folder for the on-disk inversion cache (None: memory only).
        dtype: precision of rendering frames: ``"auto"``, ``"float32"`` or ``"bfloat16"`` (bf16 autocast); see
            `deeplandscape_hf.networks.precision` for what ``"auto"`` picks. Inversion and fine-tuning stay in fp32.
    """

    def __init__(
        self,
        generator: DeepLandscapeGenerator,
        encoder: nn.Module | None = None,
        dynamics: nn.Module | None = None,
        config: PipelineConfig | None = None,
        *,
        model_id: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        dtype: DtypeLike = "auto",
    ):
        resolve_dtype(dtype, "cpu")  # a clear error for a bad name now, not at the first frame
        self.dtype = dtype  # precision of rendering; inversion and fine-tuning always run in fp32
        self.generator = generator.eval().requires_grad_(False)
        self.encoder = None if encoder is None else encoder.eval().requires_grad_(False)
        self.dynamics = None if dynamics is None else dynamics.eval().requires_grad_(False)
        self.config = config or PipelineConfig(resolution=generator.resolution)
        if self.config.resolution is None:
            self.config.resolution = generator.resolution
        self.model_id = model_id or "in-memory"
        self.cache = inv.InversionCache(self.config.cache_size, cache_dir)
        self._progress_bar_config: dict[str, Any] = {}
        self._perceptual: dict[str, nn.Module] = {}
        self._segmenter: Any = None
        self._fingerprint: str | None = None

    # ----------------------------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls,
        repo_or_dir: str | os.PathLike | None = None,
        *,
        revision: str | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        device: str | torch.device | None = None,
        cache_dir: str | os.PathLike | None = None,
        dtype: DtypeLike = "auto",
    ) -> DeepLandscapePipeline:
        """Load G (repo root), E (``encoder/``) and A (``dynamics/``) when present, and ``pipeline.json``.

        ``repo_or_dir`` None loads the bundled default model. ``cache_dir`` is the inversion cache folder (not the
        hub download cache).
        """
        from ..networks.dynamics import StyleDynamicsNet
        from ..networks.encoder import DeepLandscapeEncoder

        source = default_model_path() if repo_or_dir is None else repo_or_dir
        hub = dict(revision=revision, token=token, local_files_only=local_files_only)
        root = resolve_model_folder(source, **hub)
        generator = DeepLandscapeGenerator.from_pretrained(root)
        components: dict[str, nn.Module | None] = {}
        for name, subfolder, model_class in (
            ("encoder", ENCODER_SUBFOLDER, DeepLandscapeEncoder),
            ("dynamics", DYNAMICS_SUBFOLDER, StyleDynamicsNet),
        ):
            try:
                folder = resolve_model_folder(source, subfolder, **hub)
            except IncompleteModelError:  # there, but broken: not the same as a model without it
                raise
            except ModelNotFoundError:
                components[name] = None
                logger.info("%s has no %s/ folder: %s not available", source, subfolder, name)
                continue
            components[name] = model_class.from_pretrained(folder)
        config_path = root / PIPELINE_CONFIG_NAME
        config = PipelineConfig.from_file(config_path) if config_path.is_file() else PipelineConfig()
        if config.resolution is not None and config.resolution != generator.resolution:
            logger.warning(
                "%s says resolution %s but the generator is %d px; using the generator's.",
                PIPELINE_CONFIG_NAME,
                config.resolution,
                generator.resolution,
            )
        config.resolution = generator.resolution
        pipe = cls(generator, config=config, model_id=str(source), cache_dir=cache_dir, dtype=dtype, **components)
        return pipe.to(device) if device is not None else pipe

    def save_pretrained(self, save_directory: str | os.PathLike) -> Path:
        """Write the hub layout: G at the root, ``encoder/``, ``dynamics/``, ``pipeline.json``."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.generator.save_pretrained(directory)
        if self.encoder is not None:
            self.encoder.save_pretrained(directory / ENCODER_SUBFOLDER)
        if self.dynamics is not None:
            self.dynamics.save_pretrained(directory / DYNAMICS_SUBFOLDER)
        temporary = directory / f".{PIPELINE_CONFIG_NAME}.tmp"
        temporary.write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        os.replace(temporary, directory / PIPELINE_CONFIG_NAME)
        return directory

    @property
    def device(self) -> torch.device:
        return self.generator.device

    def to(self, device: str | torch.device | None) -> DeepLandscapePipeline:
        """Move every network (and the perceptual / segmentation nets already built) to ``device``."""
        if device is None:
            return self
        device = torch.device(device)
        for module in (self.generator, self.encoder, self.dynamics, *self._perceptual.values()):
            if module is not None:
                module.to(device)
        self._segmenter = None  # rebuilt on the new device when needed
        self.cache.clear()  # in-memory entries hold tensors on the old device
        return self

    def clear_cache(self) -> None:
        """Forget cached inversions (call after changing the networks' weights in place)."""
        self.cache.clear()
        self._fingerprint = None

    # ----------------------------------------------------------------------------------------------- progress
    def set_progress_bar_config(self, **kwargs: Any) -> None:
        """Options for every tqdm bar the pipeline opens (e.g. ``disable=True``, ``leave=False``)."""
        self._progress_bar_config = dict(kwargs)

    def progress_bar(self, iterable: Iterable | None = None, total: int | None = None, desc: str | None = None):
        """A ``tqdm.auto`` bar with the configured options (diffusers convention; Gradio ``track_tqdm`` sees it)."""
        options = {"desc": desc, **self._progress_bar_config}
        if iterable is not None:
            return tqdm(iterable, total=total, **options)
        return tqdm(total=total, **options)

    def _progress_factory(self) -> ProgressFactory:
        return lambda total, desc: self.progress_bar(total=total, desc=desc)

    # ----------------------------------------------------------------------------------------------- pieces
    def _perceptual_loss(self, perceptual: str | Callable) -> tuple[Callable | None, str]:
        """(loss, name for the cache key). Networks are built once per pipeline."""
        if callable(perceptual):
            return perceptual, f"custom:{type(perceptual).__name__}:{id(perceptual)}"
        kind = _check_choice(perceptual, PERCEPTUAL_KINDS, "perceptual loss")
        if kind == "auto":
            from .perceptual import PerceptualWeightsUnavailableError

            try:
                return self._perceptual_loss("vgg")
            except PerceptualWeightsUnavailableError as error:
                warnings.warn(
                    f"perceptual='auto': the VGG19 weights are not available. {error.cause} Until then inversion "
                    "fits L1 only, so the reconstruction is blurrier than the paper's.",
                    UserWarning,
                    stacklevel=3,
                )
                return None, "none"
        if kind == "none":
            warnings.warn(
                "perceptual='none': inversion fits L1 only, so the reconstruction is blurrier than the paper's "
                "(which uses a VGG19 perceptual loss).",
                UserWarning,
                stacklevel=3,
            )
            return None, kind
        if kind not in self._perceptual:
            from .perceptual import make_perceptual_loss

            self._perceptual[kind] = make_perceptual_loss(kind).to(self.device)  # type: ignore[arg-type]
        return self._perceptual[kind], kind

    def _model_fingerprint(self) -> str:
        if self._fingerprint is None:
            parts = [inv.tensor_fingerprint(self.generator.state_dict())]
            if self.encoder is not None:
                parts.append(inv.tensor_fingerprint(self.encoder.state_dict()))
            self._fingerprint = hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]
        return self._fingerprint

    def segment(
        self, photo: ImageInput, segmentation: Literal["auto", "model", "heuristic"] = "auto"
    ) -> SegmentationResult:
        """Find the sky and water of ``photo`` as :meth:`invert` does, without inverting: masks at the photo's size.

        Args:
            photo: the landscape (path, PIL image, array or tensor).
            segmentation: ``auto`` (the ADE20K model from pipeline.json; when it cannot be loaded, the offline
                sky-region heuristic with a UserWarning starting "The segmentation model could not be loaded"),
                ``model`` (the model or :class:`~deeplandscape_hf.animation.segmentation.SegmenterUnavailableError`) or
                ``heuristic``.

        Returns:
            A :class:`~deeplandscape_hf.animation.segmentation.SegmentationResult`: ``dynamic_mask`` (what may move),
            ``sky_mask``, ``labels`` (H, W) float32 masks / int labels, and ``horizon`` as a fraction of the height.
        """
        modes = [mode for mode in SEGMENTATION_MODES if mode != "none"]
        return self._segment(load_image(photo), _check_choice(segmentation, modes, "segmentation mode"))

    def _segment(self, photo: Image.Image, segmentation: str) -> SegmentationResult:
        """Segmenter or explicit heuristic on the photo at ``max_in_resolution``, resized back to the photo's size."""
        from . import segmentation as seg

        # Official: segmentation runs on the image resized to max_in_resolution (600 px shorter side).
        scale = self.config.max_in_resolution / min(photo.size)
        small = photo
        if scale < 1:
            small = photo.resize(
                (max(1, round(photo.width * scale)), max(1, round(photo.height * scale))), Image.Resampling.BILINEAR
            )
        if segmentation == "heuristic":
            result = seg.heuristic_segment(small)
        else:
            if self._segmenter is None:
                try:
                    self._segmenter = seg.SkySegmenter(
                        self.config.segmenter, movable_classes=self.config.dynamic_classes, device=self.device
                    )
                except seg.SegmenterUnavailableError as error:
                    if segmentation == "auto":
                        warnings.warn(
                            f"The segmentation model could not be loaded ({error.cause}). Using the offline sky-region "
                            "segmenter (no weights needed) to find sky and water instead; pass a mask for exact "
                            "control.",
                            UserWarning,
                            stacklevel=3,
                        )
                        return self._segment(photo, "heuristic")
                    raise seg.SegmenterUnavailableError(
                        f"{error} In the pipeline: pass mask=... (CLI: --mask PNG), or segmentation='heuristic' "
                        "(CLI: --segmentation heuristic) to use the offline sky-region heuristic.",
                        cause=error.cause,
                    ) from error
            result = self._segmenter.segment(small)
        if result.uncertainty is not None:
            warnings.warn(
                f"The sky/water mask is uncertain: {result.uncertainty}. What the segmenter is unsure of stays "
                "still; paint a mask (app) or pass one (--mask PNG, mask=...) to choose what moves.",
                UserWarning,
                stacklevel=3,
            )
        masks = []
        for mask in (result.dynamic_mask, result.sky_mask, result.confidence):
            if mask is not None and small.size != photo.size:
                mask = np.asarray(
                    Image.fromarray(mask.astype(np.float32)).resize(photo.size, Image.Resampling.BILINEAR)
                )
            masks.append(None if mask is None else np.clip(mask, 0.0, 1.0).astype(np.float32))
        labels = result.labels
        if small.size != photo.size:  # nearest: class ids must not be blended
            labels = np.asarray(Image.fromarray(labels.astype(np.int32)).resize(photo.size, Image.Resampling.NEAREST))
        # The horizon is a fraction of the height, so the one found on the small copy holds for the photo.
        return dataclasses.replace(result, dynamic_mask=masks[0], sky_mask=masks[1], confidence=masks[2], labels=labels)

    def _movable_region(
        self, photo: Image.Image, mask: MaskInput | None, segmentation: str
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(movable mask, sky mask or None) at the photo's size: the user's mask, else segmentation, then erosion."""
        sky_full: np.ndarray | None = None
        if mask is not None:
            dynamic_full = load_mask(mask, size=photo.size)
        elif segmentation == "none":
            dynamic_full = np.zeros((photo.height, photo.width), dtype=np.float32)
        else:
            found = self._segment(photo, segmentation)
            dynamic_full, sky_full = found.dynamic_mask, found.sky_mask
            if found.confidence is not None:
                # Where the segmenter is unsure (along its borders) the mask softens, and so does the blend of the
                # moving sky: a doubtful pixel moves a little, never fully.
                dynamic_full = (dynamic_full * found.confidence).astype(np.float32)
        if self.config.mask_erosion_px > 0:
            from .segmentation import erode

            dynamic_full = np.asarray(erode(dynamic_full, self.config.mask_erosion_px), dtype=np.float32)
        return dynamic_full, sky_full

    def _max_output_side(self, value: int | str | None) -> int | None:
        """Longest output side in px, or None for the photo's own size; ``value`` None: pipeline.json's choice."""
        return parse_max_side(self.config.max_output_side if value is None else value)

    def _validate_style(self, style: Any) -> None:
        if style is None:
            return
        from ..motion.styles import style_path

        style_path(style, vocabulary=self.config.style_vocabulary())  # unknown, unreachable: a ValueError
        if self.dynamics is None:
            raise ValueError(
                f"style={style!r} needs network A (the 'dynamics/' folder of the model), which this model does not "
                "have. Leave the style out to animate without a time-of-day change, or load a model with dynamics/."
            )

    # ----------------------------------------------------------------------------------------------- stage 1
    @torch.no_grad()
    def invert(
        self,
        image: ImageLike,
        mask: MaskInput | None = None,
        mode: str | None = None,
        preset: str | inv.Preset | None = None,
        generator: torch.Generator | None = None,
        perceptual: str | Callable = "auto",
        segmentation: Literal["auto", "model", "heuristic", "none"] = "auto",
        settings: inv.InversionSettings | None = None,
        horizon: float | None = None,
        callback: Callable[[str, int, int], Any] | None = None,
        max_output_side: int | str | None = None,
    ) -> InvertedPhoto:
        """Load, crop, segment and invert a photo (cached). ``animate`` then renders any number of videos from it.

        See ``__call__`` for the arguments; ``settings`` overrides the preset's numbers entirely (e.g.
        ``InversionSettings.from_preset("eoifs", "paper", early_stop=None)`` for the official fixed 500 iterations).
        """
        timings: dict[str, float] = {}
        start_all = time.perf_counter()
        resolution = self.generator.resolution
        if (
            mode is None
            and self.encoder is None
            and inv.VARIANTS.get(self.config.default_mode, inv.VARIANTS["mo"]).init_from_encoder
        ):
            logger.warning("this model has no encoder: using mode 'mo' instead of %r", self.config.default_mode)
            mode = "mo"  # the default was not asked for explicitly: run the best variant this model can
        mode = _check_choice(mode or self.config.default_mode, inv.INVERSION_MODES, "inversion mode")
        preset_obj = self.config.preset(preset or self.config.default_preset)
        segmentation = _check_choice(segmentation, SEGMENTATION_MODES, "segmentation mode")  # type: ignore[assignment]
        if inv.VARIANTS[mode].init_from_encoder and self.encoder is None:
            raise ValueError(
                f"Mode {mode!r} starts from the encoder's prediction, but this model has no encoder ('encoder/' "
                "folder). Use mode='mo' or mode='i2s' (they start from the mean style), or a model with an encoder."
            )
        if horizon is not None and not 0.0 <= float(horizon) <= 1.0:
            raise ValueError(f"horizon must be a fraction of the height in [0, 1] (0 = top), got {horizon}.")
        perceptual_fn, perceptual_name = self._perceptual_loss(perceptual)

        # 1. The photo and the official preprocessing (shorter side 600, then G's size, centre square).
        # Decoded no larger than the output needs, nor smaller than segmentation and inversion need.
        photo = load_image(
            image,
            max_pixels=self.config.max_input_pixels,
            max_side=self._max_output_side(max_output_side),
            min_short_side=max(self.config.max_in_resolution, resolution),
        )
        crop, box = official_resize_and_crop(photo, resolution, self.config.max_in_resolution)

        # 2. What may move: the user's mask, else segmentation; then the horizon.
        start = time.perf_counter()
        with self.progress_bar(total=1, desc="Finding sky and water") as bar:
            dynamic_full, sky_full = self._movable_region(photo, mask, segmentation)
            bar.update(1)
        dynamic_crop = crop_mask(dynamic_full, box, resolution)
        if horizon is None:
            from .segmentation import horizon_from_sky_mask

            sky_crop = _sky_from_mask(dynamic_crop) if sky_full is None else crop_mask(sky_full, box, resolution)
            horizon = horizon_from_sky_mask(sky_crop.astype(np.float32), _horizon_offset_px(resolution))
        timings["segmentation"] = time.perf_counter() - start
        if callback is not None:
            callback("segmentation", 1, 1)
        if not (dynamic_full > MOVABLE_THRESHOLD).any():
            warnings.warn(
                "No sky or water to animate was found in the photo (or the mask is empty): nothing will move. A style "
                "change still works. Paint or pass a mask to choose what moves.",
                UserWarning,
                stacklevel=3,
            )
        if mode == "eoifs" and not (dynamic_crop > MOVABLE_THRESHOLD).any():
            mode = "eoif"  # EOIFS routes the dynamic region to S^dyn; with no such region it is EOIF
        mask_tensor = torch.from_numpy(dynamic_crop)[None, None].to(self.device)

        # 3. Inversion, or the cached result of the same inversion.
        settings = settings or inv.InversionSettings.from_preset(mode, preset_obj)
        spec = inv.VARIANTS[mode]
        seed = None if generator is None else generator.initial_seed()
        key = inv.cache_key(
            image=_image_hash(photo),
            mask=inv.tensor_fingerprint([torch.from_numpy((dynamic_crop * 255).round().astype(np.uint8))])
            if spec.use_mask
            else None,
            mode=mode,
            settings=dataclasses.asdict(settings),
            seed=seed,
            model=self.model_id,
            weights=self._model_fingerprint(),
            perceptual=perceptual_name,
            resolution=resolution,
            max_in_resolution=self.config.max_in_resolution,
        )
        start = time.perf_counter()
        result = self.cache.get(key, self.generator)
        cache_hit = result is not None
        if result is None:
            target = pil_to_tensor(crop).to(self.device)
            result = inv.invert(
                self.generator,
                target,
                mode,
                settings,
                encoder=self.encoder,
                dynamic_mask=mask_tensor,
                perceptual=perceptual_fn,
                rng=generator,
                progress=self._progress_factory(),
                callback=callback,
            )
            self.cache.put(key, result)
            timings.update(result.timings)
        timings["inversion"] = time.perf_counter() - start
        timings["prepare"] = time.perf_counter() - start_all
        return InvertedPhoto(
            photo=photo,
            crop=crop,
            box=box,
            dynamic_mask=dynamic_full,
            dynamic_mask_crop=mask_tensor,
            horizon=float(horizon),
            mode=mode,
            inversion=result,
            preset=preset_obj,
            cache_hit=cache_hit,
            timings=timings,
            losses=dict(result.losses),
        )

    # ----------------------------------------------------------------------------------------------- stage 2
    def _style_w_plus(
        self,
        w_plus: torch.Tensor,
        style: Any,
        frame_times: np.ndarray,
        loop: bool,
        inverted: InvertedPhoto | None = None,
    ) -> torch.Tensor | None:
        """W+ per frame (T, num_ws, w_dim) along the style path, or None for no style change.

        Network A moves the W+ entries of the top levels toward each keyframe's z_dyn target; its outputs are
        splined over time with a clamped cubic (official SplineStyleAnimation: A per keyframe, then the spline).
        Ours: the photo's own W+ is the first keyframe, so frame 0 is the reconstruction, and a loop returns to it
        (official style videos start directly at the first target, blue day). A single style goes there over the
        video (there and back in a loop); a path such as ``day_cycle`` visits its styles evenly spaced. Named styles
        of a calibrated vocabulary take the target fitted to the ``inverted`` photo (``_fitted_condition``).
        """
        if style is None:
            return None
        from ..motion.styles import interpolate_keyframes, style_path

        resolution = self.generator.resolution
        vocabulary = self.config.style_vocabulary()
        path = style_path(style, self.config.style_strength, resolution, vocabulary)
        conditions = path.keyframe_conditions()  # (K, 4) = [z_dyn target, t]
        names = path.names or (None,) * len(conditions)
        closed_path = len(conditions) > 1 and path.is_closed
        if closed_path:
            conditions, names = conditions[:-1], names[:-1]  # the photo's own look closes the loop instead
        if inverted is not None and self.config.fit_styles_to_photo and vocabulary.source == "calibrated":
            conditions = torch.stack(
                [
                    condition if name is None else self._fitted_condition(inverted, name, condition)
                    for condition, name in zip(conditions, names, strict=True)
                ]
            )
        indices = style_level_indices(self.generator.num_levels)
        keyframes = [w_plus[0]]
        dynamics = self.dynamics
        assert dynamics is not None
        with torch.no_grad():
            for condition in conditions.to(w_plus):
                moved = w_plus[0].clone()
                moved[indices] = dynamics(w_plus[0, indices], condition[:3], condition[3])
                keyframes.append(moved)
        if loop or closed_path:
            keyframes.append(w_plus[0])
        times = np.linspace(0.0, 1.0, len(keyframes))
        values = torch.stack(keyframes)  # (K', num_ws, w_dim)
        bc_type = "periodic" if loop and len(keyframes) > 2 else "clamped"
        return interpolate_keyframes(times, values, frame_times, bc_type=bc_type)

    def _fitted_condition(self, inverted: InvertedPhoto, name: str, condition: torch.Tensor) -> torch.Tensor:
        """[z_dyn, t] that changes this photo's reconstruction most as ``name`` promises, from the model's
        ``condition``; warns when the photo stays farther from the promise than the model's tolerance."""
        from ..motion.style_calibration import COLOUR_CHANGES, fit_style_to_photo, photo_style_samples

        if name not in COLOUR_CHANGES:  # a vocabulary may name looks we hold no promise for: use them as given
            return condition
        key = (name, tuple(round(float(v), 6) for v in condition))
        if key not in inverted.fitted_styles:
            result = inverted.inversion
            assert self.dynamics is not None
            samples = photo_style_samples(
                result.generator, self.dynamics, result.w_plus, result.static_noise, result.dynamic_noise
            )
            fit = fit_style_to_photo(samples, name, condition[:3].tolist(), float(condition[3]))
            if not fit.reachable:  # a toast in the app, a line on the command line
                warnings.warn(
                    f"The style {name!r} gets this photo only to within {fit.distance:.0f} of its look "
                    f"({COLOUR_CHANGES[name].describe()}; tolerance {fit.tolerance:.0f}): the photo's own light is "
                    "far from where this model can take it.",
                    stacklevel=2,
                )
            inverted.fitted_styles[key] = torch.tensor([*fit.z_dyn, fit.strength], dtype=condition.dtype)
        return inverted.fitted_styles[key]

    @torch.no_grad()
    def animate(
        self,
        inverted: InvertedPhoto,
        style: Any = None,
        motion: Any = None,
        speed: float = 1.0,
        num_frames: int | None = None,
        fps: float | None = None,
        loop: bool = False,
        output_type: Literal["pil", "np", "pt"] = "pil",
        composite: bool = True,
        frame_indices: Sequence[int] | None = None,
        callback: Callable[[str, int, int], Any] | None = None,
        motion_source: str | None = None,
        max_output_side: int | str | None = None,
        dtype: DtypeLike | None = None,
    ) -> DeepLandscapePipelineOutput:
        """Render a video from an ``InvertedPhoto``: S^dyn warped per frame, S^st and W+ fixed (but for a style).

        ``frame_indices`` renders only those frames of the ``num_frames`` video (e.g. ``[0, num_frames]`` to check
        that a loop closes). See ``__call__`` for the other arguments.
        """
        from ..motion.homographies import (
            frame_recipe,
            get_motion,
            resolve_homographies,
            warp_noise_video,
        )

        start_all = time.perf_counter()
        num_frames = self.config.num_frames if num_frames is None else int(num_frames)
        fps = float(self.config.fps if fps is None else fps)
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}.")
        if not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"fps must be a positive number, got {fps}.")
        output_type = _check_choice(output_type, OUTPUT_TYPES, "output_type")  # type: ignore[assignment]
        self._validate_style(style)
        dtype = self.dtype if dtype is None else dtype
        resolve_dtype(dtype, "cpu")  # a bad name fails before any frame
        source = _check_choice(motion_source or self.config.motion_source, MOTION_SOURCES, "motion source")
        motion = self.config.default_motion if motion is None else motion
        motion_obj = get_motion(motion, speed) if isinstance(motion, (str, os.PathLike)) else motion
        indices = np.arange(num_frames) if frame_indices is None else np.asarray(list(frame_indices), dtype=np.int64)
        if indices.ndim != 1 or indices.size == 0:
            raise ValueError("frame_indices must be a non-empty list of frame numbers.")

        result = inverted.inversion
        G = result.generator
        resolution = G.resolution
        batch = inverted.preset.render_batch_size
        frame_times = indices / num_frames if loop else indices / max(1, num_frames - 1)
        style_w = self._style_w_plus(result.w_plus, style, frame_times, loop, inverted)
        compositor = None
        if composite:
            compositor = Compositor(
                inverted.photo,
                inverted.box,
                inverted.dynamic_mask,
                self.config.feather_px,
                self._max_output_side(max_output_side),
                static_weight=1 - inverted.dynamic_mask_crop[0, 0],
            )
        with autocast(dtype, G.device):
            reconstruction = G.synthesize(result.w_plus, result.static_noise, result.dynamic_noise)
        hybrid = None
        if compositor is not None and source == "hybrid":
            # One motion for the photo and the generator: the same homographies and per-frame recipe.
            hybrid = compositor.hybrid_motion(
                resolve_homographies(motion_obj, inverted.horizon),
                inverted.horizon,
                frame_recipe(indices.astype(np.float64), num_frames, loop)[0],
                inverted.dynamic_mask_crop if inverted.has_motion else torch.zeros_like(inverted.dynamic_mask_crop),
            )

        frames: list[Any] = []  # PIL images, or uint8 (t, H, W, 3) chunks
        render_s = composite_s = 0.0
        bar = self.progress_bar(total=len(indices), desc="Rendering frames")
        try:
            for start in range(0, len(indices), batch):
                chunk = indices[start : start + batch]
                count = len(chunk)
                # 1. S^dyn of these frames (official recipe: warp H^n at G's resolution, re-standardise).
                t0 = time.perf_counter()
                if inverted.has_motion:
                    dynamic = warp_noise_video(
                        result.dynamic_noise,
                        motion_obj,
                        num_frames,
                        inverted.horizon,
                        frame_indices=chunk.astype(np.float64),
                        loop=loop,
                        working_resolution=resolution,
                    )
                    dynamic = [level[0] for level in dynamic]  # (t, 1, s, s)
                else:
                    dynamic = [d.expand(count, -1, -1, -1) for d in result.dynamic_noise]
                # 2. W+ per frame (style path) and the fixed S^st.
                if style_w is None:
                    w_plus = result.w_plus.expand(count, -1, -1)
                else:
                    w_plus = style_w[start : start + count]
                static = [s.expand(count, -1, -1, -1) for s in result.static_noise]
                with autocast(dtype, G.device):
                    images = G.synthesize(w_plus, static, dynamic)  # (t, 3, R, R) in ~[-1, 1]
                render_s += time.perf_counter() - t0
                # 3. Onto the photo, or raw.
                t0 = time.perf_counter()
                if hybrid is not None:
                    chunk_uint8 = hybrid.render(
                        images, reconstruction, slice(start, start + count), relight_land=style_w is not None
                    )
                elif compositor is not None:
                    chunk_uint8 = compositor(images, reconstruction if style_w is not None else None)
                else:
                    floats = images.detach().float().clamp(-1, 1).cpu()
                    chunk_uint8 = ((floats + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
                # PIL frames are made per chunk, so a long full-size video never exists twice in memory.
                if output_type == "pil":
                    frames.extend(Image.fromarray(frame) for frame in chunk_uint8)
                else:
                    frames.append(chunk_uint8)
                composite_s += time.perf_counter() - t0
                bar.update(count)
                if callback is not None:
                    callback("render", start + count, len(indices))
        finally:
            bar.close()

        # 4. Output types (diffusers: np / pt in [0, 1]).
        if compositor is not None:  # the mask as used, not its feathered blend: saved and passed back, it stays
            mask_values = compositor.mask.numpy()
            if hybrid is None:  # the generator's frames reach only as far as its square
                mask_values = mask_values * (compositor.alpha[0].numpy() > 0)
        else:
            mask_values = inverted.dynamic_mask_crop[0, 0].cpu().numpy()
        mask_image = Image.fromarray((mask_values * 255).round().astype(np.uint8))
        if output_type == "pil":
            output_frames: Any = frames
        elif output_type == "np":
            output_frames = np.concatenate(frames).astype(np.float32) / 255.0
        else:
            output_frames = torch.from_numpy(np.concatenate(frames)).permute(0, 3, 1, 2).float() / 255.0

        timings = dict(inverted.timings)
        timings["render"] = render_s
        timings["composite"] = composite_s
        timings["animate"] = time.perf_counter() - start_all
        timings["total"] = timings.get("prepare", 0.0) + timings["animate"]
        return DeepLandscapePipelineOutput(
            frames=output_frames,
            mask=mask_image,
            reconstruction=tensor_to_pil(reconstruction[0]),
            latents={
                "w_plus": result.w_plus,
                "static_noise": list(result.static_noise),
                "dynamic_noise": list(result.dynamic_noise),
            },
            timings=timings,
            losses=dict(inverted.losses),
            fps=fps,
            cache_hit=inverted.cache_hit,
            horizon=inverted.horizon,
            mode=inverted.mode,
        )

    # ----------------------------------------------------------------------------------------------- call
    def __call__(
        self,
        image: ImageLike,
        mask: MaskInput | None = None,
        mode: str | None = None,
        style: Any = None,
        motion: Any = None,
        speed: float = 1.0,
        num_frames: int | None = None,
        fps: float | None = None,
        loop: bool = False,
        preset: str | inv.Preset | None = None,
        generator: torch.Generator | None = None,
        output_type: Literal["pil", "np", "pt"] = "pil",
        composite: bool = True,
        perceptual: str | Callable = "auto",
        segmentation: Literal["auto", "model", "heuristic", "none"] = "auto",
        callback: Callable[[str, int, int], Any] | None = None,
        settings: inv.InversionSettings | None = None,
        horizon: float | None = None,
        motion_source: Literal["hybrid", "generator"] | None = None,
        max_output_side: int | str | None = None,
        dtype: DtypeLike | None = None,
    ) -> DeepLandscapePipelineOutput:
        """Animate a photo.

        Args:
            image: path, PIL image or array; any size and mode (EXIF orientation applied).
            mask: movable region (PNG path, PIL, array or tensor; white/opaque = animate). Overrides segmentation.
                Another size is resized with a warning.
            mode: inversion variant ``e``, ``eo``, ``eoi``, ``eoif``, ``eoifs`` (default, pipeline.json), ``mo``,
                ``i2s``. Without an encoder only ``mo`` and ``i2s`` run (and ``mo`` is the default then).
            style: time of day: a style name (``blue_day`` ... ``blue_morning``), ``day_cycle``, keyframes or a
                ``StylePath``; None keeps the photo's look. Needs network A.
            motion: ``m01``..``m12``, ``man1``..``man5`` (default from pipeline.json), a CSV path, or a
                ``motion.Motion`` (separate water motion); ``speed`` multiplies it.
            num_frames, fps: video length and rate (defaults from pipeline.json: 60 frames, 30 fps).
            loop: seamless loop: the frame after the last equals frame 0 (motion and style both close).
            preset: ``paper`` (the supplement's recipe), ``balanced`` (default), ``fast``; see ``inversion.PRESETS``.
            generator: torch.Generator for the random parts (random noise starts); its seed is part of the cache key.
            output_type: ``pil`` (list of images), ``np`` or ``pt`` (float in [0, 1]).
            composite: frames at the photo's resolution with static regions from the photo (default); False gives the
                generator's raw R x R frames.
            perceptual: ``vgg`` (paper), ``lpips``, ``none`` (L1 only, warns), or a callable PL(y, x).
            segmentation: ``auto`` (ADE20K model from pipeline.json; an error names the fix when it cannot be
                loaded), ``heuristic`` (the offline sky-region segmenter), ``none`` (nothing moves unless ``mask``).
            callback: ``callback(stage, step, total)`` after every iteration / chunk (stages "segmentation",
                "optimization", "fine_tune", "render").
            settings: ``inversion.InversionSettings`` replacing the preset's numbers.
            horizon: override the horizon (fraction of the crop's height) found from the sky.
            motion_source: what moves sky and water in composited frames (default from pipeline.json: ``hybrid``):
                ``hybrid`` moves the photo's own sky and water at full resolution along the motion's flow field over
                the whole photo, with the generator's change of light and clouds applied as a smooth colour
                transform; ``generator`` pastes the generator's frames of its crop (the paper's output; sky outside
                the crop stays still).
            max_output_side: longest side of composited frames in px; 0 or "full" for the photo's own size (a
                200 MP photo then needs gigabytes per second of video); None: pipeline.json's (1920). The photo
                is decoded at this size, so a larger value here than in ``invert`` cannot add detail.
            dtype: precision of rendering for this call (``"auto"``, ``"float32"``, ``"bfloat16"``); None: the
                pipeline's ``dtype``. Inversion and fine-tuning always run in fp32.

        Returns:
            ``DeepLandscapePipelineOutput``.
        """
        # Validate the cheap arguments first, so a typo fails before minutes of inversion.
        from ..motion.homographies import get_motion

        self._validate_style(style)
        if isinstance(motion, (str, os.PathLike)):
            get_motion(motion, speed)
        elif motion is None:
            get_motion(self.config.default_motion, speed)
        _check_choice(output_type, OUTPUT_TYPES, "output_type")
        if motion_source is not None:
            _check_choice(motion_source, MOTION_SOURCES, "motion source")
        if dtype is not None:
            resolve_dtype(dtype, "cpu")
        if num_frames is not None and int(num_frames) < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}.")
        if fps is not None and not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}.")
        inverted = self.invert(
            image,
            mask=mask,
            mode=mode,
            preset=preset,
            generator=generator,
            perceptual=perceptual,
            segmentation=segmentation,
            settings=settings,
            horizon=horizon,
            callback=callback,
            max_output_side=max_output_side,
        )
        return self.animate(
            inverted,
            style=style,
            motion=motion,
            speed=speed,
            num_frames=num_frames,
            fps=fps,
            loop=loop,
            output_type=output_type,
            composite=composite,
            callback=callback,
            motion_source=motion_source,
            dtype=dtype,
            max_output_side=max_output_side,
        )

    def __repr__(self) -> str:
        parts = [f"generator={self.generator.resolution}px"]
        parts.append("encoder" if self.encoder is not None else "no encoder")
        parts.append("dynamics" if self.dynamics is not None else "no dynamics")
        return f"{type(self).__name__}({self.model_id!r}, {', '.join(parts)})"
