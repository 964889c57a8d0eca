"""DeepLandscape demo: drop in a landscape photo, pick a time of day and a motion, get a video back.

Run ``python app.py`` (serves on 127.0.0.1:7860, or ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``). The model is
``--model`` or ``DEEPLANDSCAPE_MODEL`` (a hub id or a local folder), else the model bundled with the package. The
work happens in :class:`deeplandscape_hf.DeepLandscapePipeline` (``invert`` once, ``animate`` per video); this file
turns widgets into arguments, combines the automatic sky/water mask with the user's brush strokes, falls back
gracefully when optional weights (segmenter, VGG19) are missing, and turns every failure into a sentence.

API: ``Client(url).predict(handle_file("photo.jpg"), "warm_sunset", "man1", 1.0, 30, 30, "fast", False, 0,
api_name="/animate")`` returns the path of an H.264 mp4.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import inspect
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from PIL import Image

from deeplandscape_hf import DeepLandscapePipeline
from deeplandscape_hf.animation.compositing import MOTION_SOURCES as MOTION_SOURCE_CHOICES
from deeplandscape_hf.animation.images import InvalidImageError, load_image
from deeplandscape_hf.animation.inversion import INVERSION_MODES
from deeplandscape_hf.animation.segmentation import SegmentationResult
from deeplandscape_hf.animation.video import VideoWriteError, write_video
from deeplandscape_hf.motion import MOTION_PRESETS, get_motion, motion_from_direction
from deeplandscape_hf.motion.styles import StyleVocabulary, style_path, style_stills
from deeplandscape_hf.networks.hub import ModelNotFoundError
from deeplandscape_hf.vocabulary import DTYPE_CHOICES

try:  # ZeroGPU on Hugging Face Spaces; everywhere else the decorator is not applied.
    import spaces
except ImportError:
    spaces = None

logger = logging.getLogger("deeplandscape_app")

APP_DIR = Path(__file__).resolve().parent
EXAMPLES_DIR = APP_DIR / "examples"
EXAMPLES = [  # (photo, style, motion): shown under the inputs, rendered on first click and cached (lazy)
    ("mountains_clouds_01.jpg", "warm_sunset", "man1"),
    ("lake_dock_01.jpg", "keep", "m01"),
    ("castle_hills_01.jpg", "day_cycle", "man4"),
    ("temple_pool_01.jpg", "blue_hour", "m05"),
]

KEEP_LIGHT = "keep"  # the style value that leaves the photo's lighting alone
KEEP_LIGHT_LABEL = "keep the photo's light"
STYLE_LABELS = {"day_cycle": "day cycle (every style below, back to the start)"}
PREVIEW_MAX_SIDE = 512  # gallery stills are thumbnails: a full-size frame per style would only slow the page
CUSTOM_DIRECTION = "custom"
MOTION_CHOICES = [(name, name) for name in MOTION_PRESETS] + [("custom direction (use the slider)", CUSTOM_DIRECTION)]
DEFAULT_MOTION = "man1" if "man1" in MOTION_PRESETS else next(iter(MOTION_PRESETS))
QUALITY_PRESETS = ("fast", "balanced", "paper")
AUTO_MODE = "auto"
MODE_CHOICES = [("auto: EOIFS with a mask, EOIF without", AUTO_MODE)]
MODE_CHOICES += [(mode.upper(), mode) for mode in INVERSION_MODES]

# Longest side of the video. 1920 is H.264 that every browser plays; larger photos are decoded straight at this size.
VIDEO_SIZES = [("1920 px (plays everywhere)", "1920"), ("3840 px (4K)", "3840"), ("full photo size (slow)", "full")]
DEFAULT_VIDEO_SIZE = "1920"
MIN_FRAMES, MAX_FRAMES = 8, 200
MIN_FPS, MAX_FPS = 5, 60
MAX_UPLOAD = "80mb"  # refused in the browser before it is sent; a 200 MP camera JPEG is 30-70 MB
QUEUE_SIZE = 16  # waiting requests beyond this are turned away with a message
DEFAULT_FRAMES, DEFAULT_FPS = 30, 30  # the /animate API's defaults (the Frames slider starts at 60)
GPU_SECONDS = {"fast": 60, "balanced": 150, "paper": 600}  # ZeroGPU duration per preset, plus per-frame rendering
GPU_SECONDS_PER_FRAME = 0.5
GIF_MAX_SIDE = 480  # the GIF download is for sharing: full-size GIFs of a 1920 px video run to 100+ MB
OVERLAY_MAX_SIDE = 1024
MASK_CACHE_SIZE = 8  # automatic masks kept per photo (re-animating skips segmentation)
KEPT_OUTPUT_FOLDERS = 32  # older result folders are deleted (Gradio has already copied what it serves)
MOVABLE = 0.5

SEGMENTER_FALLBACK = (
    "The sky/water segmentation model could not be loaded, so the offline sky-region segmenter found the sky. "
    "Paint on the 'animate here' and 'keep still' layers to correct it."
)
VGG_FALLBACK = (
    "The VGG19 weights for the perceptual loss are not available, so the photo was fitted with L1 only and the "
    "reconstruction is a little blurrier."
)
UNCERTAIN_MASK = (
    "The automatic mask is unsure of this photo: {reason}. What it is unsure of stays still; paint the 'animate "
    "here' layer over the sky or water that should move."
)
NO_PHOTO = (
    "Please add a landscape photo first. If you did, your browser could not open the file as an image: use a JPEG, "
    "PNG or WebP photo."
)
NO_MOTION_HINT = (
    "Nothing in this photo was found to animate (no sky or water in the square the model sees). Paint the "
    "'animate here' layer over the sky or water to make it move."
)
# Pipeline warnings worth a toast, by how they start -> what the user reads (None: the warning itself); others are
# logged. The pipeline's own wording names Python arguments, so some get a sentence about the app instead.
RELAYED_WARNINGS: dict[str, str | None] = {
    "No sky or water": NO_MOTION_HINT,
    "The mask ": None,
    "perceptual='auto'": VGG_FALLBACK,  # perceptual="auto" without cached VGG19 weights: fitted with L1 only
}
SEGMENTER_WARNING = "The segmentation model could not be loaded"  # segmentation="auto" fell back to the heuristic


# --------------------------------------------------------------------------------------------------------- state
@dataclass
class AppState:
    """What the server holds between requests: the model and the fallbacks found so far."""

    model: str | None = None
    pipeline: DeepLandscapePipeline | None = None
    segmenter_failed: bool = False  # the model could not be loaded once: use the heuristic without retrying
    masks: collections.OrderedDict[str, AutomaticMask] = field(default_factory=collections.OrderedDict)
    outputs: collections.deque[Path] = field(default_factory=collections.deque)
    lock: threading.RLock = field(default_factory=threading.RLock)


STATE = AppState()
_OUTPUT_ROOT: Path | None = None


def get_pipeline() -> DeepLandscapePipeline:
    """The pipeline, loaded on first use (from ``STATE.model``; None is the bundled default model)."""
    with STATE.lock:
        if STATE.pipeline is None:
            cache_dir = None
            if spaces is not None and os.environ.get("SPACES_ZERO_GPU"):
                # ZeroGPU runs each request in a fresh worker process, so only a disk cache survives between them.
                cache_dir = Path(tempfile.gettempdir()) / "deeplandscape_inversions"
            pipe = DeepLandscapePipeline.from_pretrained(STATE.model, cache_dir=cache_dir)
            if torch.cuda.is_available():
                pipe.to("cuda")
            STATE.pipeline = pipe
        return STATE.pipeline


def model_styles(pipe: DeepLandscapePipeline) -> StyleVocabulary | None:
    """What the loaded model's style names mean; None when it cannot change the time of day (no network A)."""
    return pipe.config.style_vocabulary() if pipe.dynamics is not None else None


def style_choices(pipe: DeepLandscapePipeline) -> list[tuple[str, str]]:
    """Dropdown entries: keep the light, then only the styles and paths this model can render."""
    vocabulary = model_styles(pipe)
    names = vocabulary.choices if vocabulary is not None else ()
    return [(KEEP_LIGHT_LABEL, KEEP_LIGHT)] + [(STYLE_LABELS.get(name, name.replace("_", " ")), name) for name in names]


# --------------------------------------------------------------------------------------------------------- ZeroGPU
def gpu_seconds(preset: str | None, num_frames: float | None) -> int:
    """Seconds to ask ZeroGPU for: the preset's inversion budget plus rendering time per frame."""
    frames = MAX_FRAMES if num_frames is None else min(MAX_FRAMES, max(1, int(num_frames)))
    return int(GPU_SECONDS.get(str(preset), GPU_SECONDS["balanced"]) + GPU_SECONDS_PER_FRAME * frames)


def on_gpu(fn: Callable) -> Callable:
    """``spaces.GPU`` with a duration taken from the call's ``preset`` and ``num_frames``; ``fn`` itself without
    the ``spaces`` package."""
    if spaces is None:
        return fn
    signature = inspect.signature(fn)

    def duration(*args: Any, **kwargs: Any) -> int:
        arguments = signature.bind_partial(*args, **kwargs).arguments
        return gpu_seconds(arguments.get("preset"), arguments.get("num_frames"))

    return spaces.GPU(duration=duration)(fn)


# --------------------------------------------------------------------------------------------------------- masks
def image_key(photo: Image.Image) -> str:
    """A content hash of a photo (pixels and size)."""
    digest = hashlib.sha256(f"{photo.size}{photo.mode}".encode())
    digest.update(photo.tobytes())
    return digest.hexdigest()[:32]


def painted_pixels(layer: Image.Image | np.ndarray | str | None, size: tuple[int, int]) -> np.ndarray | None:
    """Pixels a brush layer covers (its alpha) at ``size`` = (W, H), or None when nothing was painted."""
    if layer is None:
        return None
    if isinstance(layer, str):
        layer = Image.open(layer)
    if isinstance(layer, np.ndarray):
        layer = Image.fromarray(layer)
    if "A" not in layer.getbands():
        return None  # a layer without alpha carries no strokes
    alpha = layer.getchannel("A")
    if alpha.size != size:
        alpha = alpha.resize(size, Image.Resampling.NEAREST)
    strokes = np.asarray(alpha) > 0
    return strokes if strokes.any() else None


Strokes = np.ndarray | None


def split_editor_value(value: dict | Image.Image | str | None) -> tuple[Image.Image, Strokes, Strokes]:
    """(photo, 'animate here' strokes, 'keep still' strokes) from an ImageEditor value, a PIL image or a path."""
    if value is None:
        raise gr.Error(NO_PHOTO, title="No photo", print_exception=False)
    if isinstance(value, dict):
        background = value.get("background")
        if background is None:
            raise gr.Error(NO_PHOTO, title="No photo", print_exception=False)
        photo = load_image(background)
        layers = list(value.get("layers") or [])
        animate = painted_pixels(layers[0], photo.size) if len(layers) > 0 else None
        keep = painted_pixels(layers[1], photo.size) if len(layers) > 1 else None
        return photo, animate, keep
    return load_image(value), None, None


def segment(photo: Image.Image) -> tuple[SegmentationResult, bool]:
    """The pipeline's sky/water segmentation of ``photo`` and whether the colour heuristic stood in for the model.

    After one failure to load the model, the heuristic is asked for directly: loading is not retried on every
    upload (offline or without the weights that is slow and fails the same way).
    """
    pipe = get_pipeline()
    with STATE.lock:
        if STATE.segmenter_failed:
            return pipe.segment(photo, segmentation="heuristic"), True
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = pipe.segment(photo, segmentation="auto")
        for item in caught:
            if str(item.message).startswith(SEGMENTER_WARNING):
                STATE.segmenter_failed = True
                logger.warning("segmentation model unavailable, using the colour heuristic: %s", item.message)
            else:
                logger.debug("warning during segmentation: %s", item.message)
        return result, STATE.segmenter_failed


@dataclass(frozen=True)
class AutomaticMask:
    """What the app found would move in a photo before the user paints anything."""

    mask: np.ndarray  # (H, W) float32 in [0, 1]
    guessed: bool  # the offline segmenter stood in for the model
    uncertainty: str | None  # why the segmenter left (some of) the photo still, or None


def automatic_mask(photo: Image.Image) -> AutomaticMask:
    """The movable mask of ``photo`` as the pipeline finds it (at ``max_in_resolution``, resized back), as ``invert``
    would. Results are cached per photo."""
    key = image_key(photo)
    with STATE.lock:
        if key in STATE.masks:
            STATE.masks.move_to_end(key)
            return STATE.masks[key]
        result, guessed = segment(photo)
        entry = AutomaticMask(result.dynamic_mask, guessed, result.uncertainty)
        STATE.masks[key] = entry
        while len(STATE.masks) > MASK_CACHE_SIZE:
            STATE.masks.popitem(last=False)
        return entry


def automatic_mask_notes(automatic: AutomaticMask, animate_strokes: np.ndarray | None) -> list[str]:
    """What the user should read about the automatic mask: that the offline segmenter found it, and why it left the
    photo (or its water) still, unless the 'animate here' layer already says what moves."""
    notes = [SEGMENTER_FALLBACK] if automatic.guessed else []
    painted = animate_strokes is not None and bool((np.asarray(animate_strokes) > MOVABLE).any())
    if automatic.uncertainty is not None and not painted:
        notes.append(UNCERTAIN_MASK.format(reason=automatic.uncertainty))
    return notes


def combine_masks(automatic: np.ndarray, animate: np.ndarray | None, keep: np.ndarray | None) -> np.ndarray:
    """The automatic mask, plus 'animate here' strokes, minus 'keep still' strokes (keep wins where both are)."""
    mask = np.array(automatic, dtype=np.float32, copy=True)
    if animate is not None:
        mask[animate] = 1.0
    if keep is not None:
        mask[keep] = 0.0
    return mask


def mask_overlay(photo: Image.Image, mask: np.ndarray | Image.Image, max_side: int = OVERLAY_MAX_SIDE) -> Image.Image:
    """The photo with the animated region tinted blue, at most ``max_side`` px on its longer side."""
    if not isinstance(mask, Image.Image):
        mask = Image.fromarray((np.clip(mask, 0, 1) * 255).astype(np.uint8))
    mask_image = mask.convert("L")
    scale = min(1.0, max_side / max(photo.size))
    size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
    base = np.asarray(photo.convert("RGB").resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    weight = np.asarray(mask_image.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)[..., None] / 255 * 0.55
    tint = np.array([40, 120, 255], dtype=np.float32)
    return Image.fromarray((base * (1 - weight) + tint * weight).clip(0, 255).astype(np.uint8))


# --------------------------------------------------------------------------------------------------------- running
@dataclass
class Animation:
    """One finished request: files to serve and what to tell the user."""

    video: str
    gif: str
    overlay: Image.Image
    report: str
    warnings: list[str]
    ssim: float
    seconds: float
    cache_hit: bool


def resolve_mode(mode: str, has_mask: bool, has_encoder: bool) -> str:
    """``auto`` -> EOIFS when something may move, EOIF otherwise (MO without an encoder); others pass through."""
    if mode != AUTO_MODE:
        return mode
    if not has_encoder:
        return "mo"
    return "eoifs" if has_mask else "eoif"


def _output_folder() -> Path:
    """A fresh folder for one result; old ones beyond ``KEPT_OUTPUT_FOLDERS`` are removed."""
    global _OUTPUT_ROOT
    with STATE.lock:
        if _OUTPUT_ROOT is None:
            _OUTPUT_ROOT = Path(tempfile.mkdtemp(prefix="deeplandscape_app_"))
        folder = Path(tempfile.mkdtemp(prefix="result_", dir=_OUTPUT_ROOT))
        STATE.outputs.append(folder)
        while len(STATE.outputs) > KEPT_OUTPUT_FOLDERS:
            shutil.rmtree(STATE.outputs.popleft(), ignore_errors=True)
        return folder


def _relay(caught: list[warnings.WarningMessage]) -> list[str]:
    """The pipeline's warnings meant for the user, as sentences without repeats; anything else goes to the log."""
    messages: list[str] = []
    for item in caught:
        text = str(item.message)
        prefix = next((prefix for prefix in RELAYED_WARNINGS if text.startswith(prefix)), None)
        if issubclass(item.category, UserWarning) and prefix is not None:
            text = RELAYED_WARNINGS[prefix] or text
            if text not in messages:
                messages.append(text)
        else:
            logger.debug("warning during animation: %s", text)
    return messages


def gif_frames(frames: list[Image.Image], max_side: int = GIF_MAX_SIDE) -> list[Image.Image]:
    """The frames at most ``max_side`` px on their longer side, for the GIF download (a size for sharing)."""
    width, height = frames[0].size
    scale = max_side / max(width, height)
    if scale >= 1:
        return frames
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return [frame.convert("RGB").resize(size, Image.Resampling.LANCZOS) for frame in frames]


def _reconstruction_ssim(reconstruction: Image.Image, crop: Image.Image) -> float:
    from deeplandscape_hf.evaluation.metrics.image import ssim

    return float(ssim(np.array(reconstruction.convert("RGB")), np.array(crop.convert("RGB"))))


def fit_photo(
    photo: Image.Image,
    animate_strokes: np.ndarray | None,
    keep_strokes: np.ndarray | None,
    preset: str,
    mode: str,
    seed: int,
    notes: list[str],
    report_progress: Callable[..., Any],
    max_size: str = DEFAULT_VIDEO_SIZE,
) -> Any:
    """Mask and invert ``photo`` (the pipeline reuses its cached inversion for the same photo, mask and options).

    Shared by Animate and Preview styles, so that either reuses the other's fit. Notes for the user go to ``notes``.
    """
    pipe = get_pipeline()
    report_progress(0.0, desc="Finding the sky and water")
    automatic = automatic_mask(photo)
    for note in automatic_mask_notes(automatic, animate_strokes):
        if note not in notes:
            notes.append(note)
    mask = combine_masks(automatic.mask, animate_strokes, keep_strokes)
    has_mask = bool((mask > MOVABLE).any())
    chosen_mode = resolve_mode(mode, has_mask, pipe.encoder is not None)
    report_progress(0.05, desc="Fitting the photo")
    return pipe.invert(
        image=photo,
        mask=mask,
        mode=chosen_mode,
        preset=preset,
        generator=torch.Generator().manual_seed(int(seed or 0) % 2**63),
        perceptual="auto",  # VGG19 when its weights are cached, else L1 only (relayed as VGG_FALLBACK)
        max_output_side=max_size,
    )


def preview_styles(
    photo: Image.Image,
    animate_strokes: np.ndarray | None,
    keep_strokes: np.ndarray | None,
    preset: str,
    mode: str,
    seed: int,
    progress: Callable[..., Any] | None = None,
) -> list[tuple[Image.Image, str]]:
    """The photo in every style the model can render, as (thumbnail, caption) stills: the light of each style's
    last frame, from one inversion (the cached one when Animate fitted this photo already)."""
    report_progress = progress or (lambda *args, **kwargs: None)
    pipe = get_pipeline()
    vocabulary = model_styles(pipe)
    if vocabulary is None or not vocabulary.reachable:
        raise ValueError("This model cannot change the time of day, so there are no styles to preview.")
    if preset not in QUALITY_PRESETS:
        raise ValueError(f"Unknown quality preset {preset!r}; choose one of {', '.join(QUALITY_PRESETS)}.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the Animate button relays fitting warnings; a preview only shows stills
        inverted = fit_photo(photo, animate_strokes, keep_strokes, preset, mode, seed, [], report_progress)
    report_progress(0.8, desc="Rendering each style")
    styles = [None, *vocabulary.reachable]
    captions = [KEEP_LIGHT_LABEL, *(name.replace("_", " ") for name in vocabulary.reachable)]
    stills = style_stills(pipe, inverted, styles)
    for still in stills:
        still.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE), Image.Resampling.LANCZOS)
    return list(zip(stills, captions, strict=True))


def run_animation(
    photo: Image.Image,
    animate_strokes: np.ndarray | None,
    keep_strokes: np.ndarray | None,
    style: str,
    motion: str,
    direction: float,
    speed: float,
    num_frames: int,
    fps: float,
    loop: bool,
    preset: str,
    mode: str,
    seed: int,
    motion_source: str = "hybrid",
    max_size: str = DEFAULT_VIDEO_SIZE,
    progress: Callable[..., Any] | None = None,
    dtype: str = "auto",
) -> Animation:
    """Animate ``photo``: mask, invert (or reuse the cached inversion), render, write mp4 + GIF, report."""
    started = time.perf_counter()
    notes: list[str] = []
    report_progress = progress or (lambda *args, **kwargs: None)
    pipe = get_pipeline()
    # an API client or a cleared number box sends None: the defaults, as for a value left out
    num_frames = DEFAULT_FRAMES if num_frames is None else int(num_frames)
    fps = DEFAULT_FPS if fps is None else float(fps)
    speed, seed = 1.0 if speed is None else speed, int(seed or 0)
    if not MIN_FRAMES <= num_frames <= MAX_FRAMES:
        raise ValueError(f"Please choose between {MIN_FRAMES} and {MAX_FRAMES} frames (got {num_frames}).")
    if not MIN_FPS <= fps <= MAX_FPS:
        raise ValueError(f"Please choose a frame rate between {MIN_FPS} and {MAX_FPS} fps (got {fps:g}).")
    if preset not in QUALITY_PRESETS:
        raise ValueError(f"Unknown quality preset {preset!r}; choose one of {', '.join(QUALITY_PRESETS)}.")
    if not float(speed) > 0:
        raise ValueError(f"The speed must be a positive number (got {speed}).")
    if mode != AUTO_MODE and str(mode).lower() not in INVERSION_MODES:
        raise ValueError(f"Unknown inversion mode {mode!r}; choose auto or one of {', '.join(INVERSION_MODES)}.")
    style_arg = None if style in (KEEP_LIGHT, None, "") else style
    if style_arg is not None:  # checked before minutes of fitting, not after
        vocabulary = model_styles(pipe)
        if vocabulary is None:
            raise ValueError("This model cannot change the time of day (it has no dynamics network): keep the light.")
        style_path(style_arg, vocabulary=vocabulary)  # unknown or unreachable for this model: a sentence
    if motion == CUSTOM_DIRECTION:
        motion_arg: Any = motion_from_direction(float(direction), float(speed))
        speed_arg = 1.0  # already in the custom motion
    else:
        motion_arg, speed_arg = get_motion(motion, float(speed)).name, float(speed)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inverted = fit_photo(
            photo, animate_strokes, keep_strokes, preset, mode, seed, notes, report_progress, max_size=max_size
        )
        report_progress(0.8, desc="Rendering frames")
        output = pipe.animate(
            inverted,
            style=style_arg,
            motion=motion_arg,
            speed=speed_arg,
            num_frames=num_frames,
            fps=fps,
            loop=loop,
            motion_source=motion_source,
            max_output_side=max_size,
            dtype=dtype,
        )
    notes.extend(_relay(caught))

    report_progress(0.95, desc="Writing the video")
    folder = _output_folder()
    video = write_video(output.frames, folder / "deeplandscape.mp4", fps=fps)
    with warnings.catch_warnings():  # GIFs play at most 50 fps; the mp4 has the full rate, so no toast for that
        warnings.filterwarnings("ignore", message="GIF cannot play", category=UserWarning)
        gif = write_video(gif_frames(output.frames), folder / "deeplandscape.gif", fps=fps)
    width, height = output.frames[0].size

    score = _reconstruction_ssim(output.reconstruction, inverted.crop)
    elapsed = time.perf_counter() - started
    logger.info(
        "animated %dx%d, %d frames, preset %s, mode %s in %.1f s (cache %s; stages %s)",
        photo.width,
        photo.height,
        num_frames,
        preset,
        output.mode,
        elapsed,
        "hit" if output.cache_hit else "miss",
        {name: round(value, 2) for name, value in output.timings.items()},
    )
    timings = output.timings
    stage = (
        "inversion reused from the cache" if output.cache_hit else f"inversion {timings.get('inversion', 0.0):.1f} s"
    )
    report = (
        f"**Reconstruction SSIM {score:.3f}** (1 = perfect) · **{elapsed:.1f} s** in all ({stage}, "
        f"rendering {timings.get('render', 0.0) + timings.get('composite', 0.0):.1f} s)  \n"
        f"{num_frames} frames at {width}x{height}, {fps:g} fps · mode {output.mode.upper()} · preset {preset}"
        f"{' · seamless loop' if loop else ''}"
    )
    if notes:
        report += "\n\n" + "\n".join(f"- {note}" for note in notes)
    return Animation(
        video=str(video),
        gif=str(gif),
        overlay=mask_overlay(photo, output.mask),
        report=report,
        warnings=notes,
        ssim=score,
        seconds=elapsed,
        cache_hit=bool(output.cache_hit),
    )


# --------------------------------------------------------------------------------------------------------- errors
def user_message(error: BaseException, uploads: dict[str, str] | None = None) -> str:
    """A sentence for the user: server paths replaced by the uploaded file's name."""
    text = str(error).strip() or type(error).__name__
    for path, name in (uploads or {}).items():
        text = text.replace(path, name)
    text = text.replace("the given Image", "The photo").replace("the given ndarray", "The photo")
    return text[0].upper() + text[1:] if text else text


def as_gr_error(error: Exception, uploads: dict[str, str] | None = None) -> gr.Error:
    """Map any failure to a ``gr.Error`` with a readable sentence (and log unexpected ones with their traceback)."""
    if isinstance(error, gr.Error):
        return error
    if isinstance(error, (InvalidImageError, FileNotFoundError, ValueError)):
        return gr.Error(user_message(error, uploads), title="Cannot animate this", print_exception=False)
    if isinstance(error, ModelNotFoundError):
        return gr.Error(user_message(error), title="Model not available")
    if isinstance(error, VideoWriteError):
        return gr.Error("The video could not be written on the server. Please try again.", title="Video error")
    if isinstance(error, (MemoryError, torch.cuda.OutOfMemoryError)):
        return gr.Error(
            "The server ran out of memory. Try the fast preset, fewer frames or a smaller photo.", title="Out of memory"
        )
    logger.exception("animation failed")
    return gr.Error(
        f"Something went wrong while animating this photo ({type(error).__name__}). It was logged on the server; "
        "please try again or try another photo.",
        title="Unexpected error",
    )


# --------------------------------------------------------------------------------------------------------- handlers
@on_gpu
def render_from_editor(
    editor_value: dict | str | None,
    style: str,
    motion: str,
    direction: float,
    speed: float,
    num_frames: int,
    fps: float,
    preset: str,
    loop: bool,
    mode: str,
    seed: int,
    motion_source: str = "hybrid",
    max_size: str = DEFAULT_VIDEO_SIZE,
    progress: Callable[..., Any] | None = None,
    dtype: str = "auto",
) -> Animation:
    """The GPU part of a UI request: photo and strokes from the editor, then ``run_animation``.

    Any failure becomes a ``gr.Error``. Returns plain picklable data (paths, a PIL image, strings), as ZeroGPU runs
    this in a worker process; toasts are raised by the caller, in the server process.
    """
    try:
        photo, animate_strokes, keep_strokes = split_editor_value(editor_value)
        return run_animation(
            photo,
            animate_strokes,
            keep_strokes,
            style,
            motion,
            direction,
            speed,
            num_frames,
            fps,
            loop,
            preset,
            mode,
            seed,
            motion_source=motion_source,
            max_size=max_size,
            progress=progress,
            dtype=dtype,
        )
    except Exception as error:  # noqa: BLE001 - every failure becomes a sentence in the UI
        raise as_gr_error(error) from error


def _ui_outputs(result: Animation) -> tuple[str, list[str], Image.Image, str]:
    for message in result.warnings:
        gr.Warning(message)
    return result.video, [result.video, result.gif], result.overlay, result.report


def animate_ui(
    editor_value: dict | None,
    style: str,
    motion: str,
    direction: float,
    speed: float,
    num_frames: int,
    fps: int,
    preset: str,
    loop: bool,
    mode: str,
    seed: int,
    motion_source: str = "hybrid",
    max_size: str = DEFAULT_VIDEO_SIZE,
    dtype: str = "auto",
    progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008 - Gradio's documented idiom
) -> tuple[str, list[str], Image.Image, str]:
    """The Animate button: photo + strokes from the editor, every option from the widgets."""
    options = (style, motion, direction, speed, num_frames, fps, preset, loop, mode, seed, motion_source, max_size)
    worker_progress = _progress_for_worker(progress)
    return _ui_outputs(render_from_editor(editor_value, *options, progress=worker_progress, dtype=dtype))


def reanimate_ui(
    editor_value: dict | None,
    style: str,
    motion: str,
    direction: float,
    speed: float,
    num_frames: int,
    fps: int,
    preset: str,
    loop: bool,
    mode: str,
    seed: int,
    motion_source: str = "hybrid",
    max_size: str = DEFAULT_VIDEO_SIZE,
    dtype: str = "auto",
    progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008 - Gradio's documented idiom
) -> tuple[str, list[str], Image.Image, str]:
    """The Re-animate button: like Animate, and says so when there was no inversion to reuse."""
    options = (style, motion, direction, speed, num_frames, fps, preset, loop, mode, seed, motion_source, max_size)
    result = render_from_editor(editor_value, *options, progress=_progress_for_worker(progress), dtype=dtype)
    if not result.cache_hit:
        gr.Info(
            "There was no earlier inversion of this photo with this mask, mode, preset and seed, so it was fitted "
            "again. Change only the time of day, motion, frames or loop to re-animate in seconds."
        )
    return _ui_outputs(result)


@on_gpu
def render_style_previews(
    editor_value: dict | str | None,
    preset: str,
    mode: str,
    seed: int,
    progress: Callable[..., Any] | None = None,
) -> list[tuple[Image.Image, str]]:
    """The GPU part of Preview styles: photo and strokes from the editor, then ``preview_styles``."""
    try:
        photo, animate_strokes, keep_strokes = split_editor_value(editor_value)
        return preview_styles(photo, animate_strokes, keep_strokes, preset, mode, seed, progress=progress)
    except Exception as error:  # noqa: BLE001 - every failure becomes a sentence in the UI
        raise as_gr_error(error) from error


def preview_styles_ui(
    editor_value: dict | None,
    preset: str,
    mode: str,
    seed: int,
    progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008 - Gradio's documented idiom
) -> list[tuple[Image.Image, str]]:
    """The Preview styles button: one still per style of the model, fitted as Animate would (and cached alike)."""
    return render_style_previews(editor_value, preset, mode, seed, progress=_progress_for_worker(progress))


def style_from_preview(event: gr.SelectData) -> str:
    """Clicking a still picks its style in the dropdown (the gallery lists keep, then the reachable styles)."""
    vocabulary = model_styles(get_pipeline())
    values = [KEEP_LIGHT, *(vocabulary.reachable if vocabulary is not None else ())]
    return values[event.index] if 0 <= event.index < len(values) else KEEP_LIGHT


def _progress_for_worker(progress: gr.Progress) -> gr.Progress | None:
    """Stage messages go straight to ``progress`` here; under ZeroGPU only the tqdm bars (track_tqdm) are relayed."""
    return None if spaces is not None else progress


def preview_mask(editor_value: dict | None) -> Image.Image | None:
    """Shown on upload: the automatic sky/water mask over the photo (what will move unless painted over)."""
    if not editor_value or editor_value.get("background") is None:
        return None
    try:
        photo, animate_strokes, keep_strokes = split_editor_value(editor_value)
        automatic = automatic_mask(photo)
    except Exception as error:  # noqa: BLE001 - every failure becomes a sentence in the UI
        raise as_gr_error(error) from error
    for note in automatic_mask_notes(automatic, animate_strokes):
        gr.Warning(note)
    return mask_overlay(photo, combine_masks(automatic.mask, animate_strokes, keep_strokes))


@on_gpu
def animate(
    photo: str,
    style: str = KEEP_LIGHT,
    motion: str = DEFAULT_MOTION,
    speed: float = 1.0,
    num_frames: int = DEFAULT_FRAMES,
    fps: int = DEFAULT_FPS,
    preset: str = "fast",
    loop: bool = False,
    seed: int = 0,
) -> str:
    """Animate a landscape photo; returns the path of an H.264 mp4 (the /animate API endpoint)."""
    if not photo:
        raise gr.Error("Please send a landscape photo (an image file).", title="No photo", print_exception=False)
    uploads = {photo: Path(photo).name}
    try:
        result = run_animation(
            load_image(photo), None, None, style, motion, 0.0, speed, num_frames, fps, loop, preset, AUTO_MODE, seed
        )
    except Exception as error:  # noqa: BLE001 - every failure becomes a sentence for the client
        raise as_gr_error(error, uploads) from error
    return result.video


def animate_example(photo: dict | str, style: str, motion: str) -> tuple[str, list[str], Image.Image, str]:
    """Examples: a photo file with a style and motion, the other options at their fast defaults."""
    return animate_ui(photo, style, motion, 0.0, 1.0, DEFAULT_FRAMES, DEFAULT_FPS, "fast", False, AUTO_MODE, 0)


# --------------------------------------------------------------------------------------------------------- layout
def build_demo() -> gr.Blocks:
    """The Blocks app (call ``.launch()`` on it; ``main`` does that with the queue and upload limits)."""
    choices = style_choices(get_pipeline())  # only what the loaded model can render
    with gr.Blocks(title="DeepLandscape", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(
            "# DeepLandscape: animate a landscape photo\n"
            "Drop in a photo: clouds and water move, land stays still, and the light can follow a time of day. "
            "The blue tint under the result shows what moves. Paint on the **animate here** layer to add moving "
            "regions and on **keep still** to freeze them. Based on *DeepLandscape: Adversarial Modeling of "
            "Landscape Videos* (Logacheva et al., ECCV 2020)."
        )
        with gr.Row():
            with gr.Column():
                editor = gr.ImageEditor(
                    label="Photo (paint to change what moves)",
                    type="pil",
                    image_mode="RGBA",
                    sources=["upload", "clipboard"],
                    layers=gr.LayerOptions(allow_additional_layers=False, layers=["animate here", "keep still"]),
                    brush=gr.Brush(colors=["#2878ff", "#ff4040"], color_mode="fixed"),
                    transforms=(),
                    elem_id="photo",
                )
                with gr.Row(equal_height=True):
                    style = gr.Dropdown(choices, value=KEEP_LIGHT, label="Time of day", elem_id="style", scale=3)
                    preview = gr.Button("Preview styles", elem_id="preview-styles", scale=1)
                previews = gr.Gallery(
                    label="This photo in each style (click one to pick it)",
                    columns=4,
                    height="auto",
                    allow_preview=False,
                    elem_id="style-previews",
                )
                with gr.Row():
                    motion = gr.Dropdown(MOTION_CHOICES, value=DEFAULT_MOTION, label="Motion", elem_id="motion")
                    speed = gr.Slider(0.25, 4, value=1.0, step=0.25, label="Speed", elem_id="speed")
                direction = gr.Slider(
                    0,
                    359,
                    value=0,
                    step=1,
                    label="Direction for 'custom direction' (0 = right, 90 = up)",
                    elem_id="direction",
                )
                with gr.Row():
                    num_frames = gr.Slider(MIN_FRAMES, MAX_FRAMES, value=60, step=1, label="Frames", elem_id="frames")
                    fps = gr.Slider(MIN_FPS, MAX_FPS, value=DEFAULT_FPS, step=1, label="FPS", elem_id="fps")
                with gr.Row():
                    preset = gr.Radio(list(QUALITY_PRESETS), value="fast", label="Quality", elem_id="preset")
                    loop = gr.Checkbox(value=False, label="Seamless loop", elem_id="loop")
                with gr.Accordion("Advanced", open=False):
                    mode = gr.Dropdown(MODE_CHOICES, value=AUTO_MODE, label="Inversion", elem_id="mode")
                    seed = gr.Number(value=0, precision=0, label="Seed", elem_id="seed")
                    motion_source = gr.Radio(
                        list(MOTION_SOURCE_CHOICES),
                        value="hybrid",
                        label="What moves the sky",
                        info="hybrid: the photo's own clouds and water, moved at full resolution, with the model's "
                        "light on top; generator: the model's own frames of its centre square (the paper's output)",
                        elem_id="motion_source",
                    )
                    dtype = gr.Dropdown(
                        list(DTYPE_CHOICES),
                        value="auto",
                        label="Rendering precision (auto: fp32 until bf16 meets the 40 dB bound)",
                        elem_id="dtype",
                    )
                    max_size = gr.Dropdown(
                        VIDEO_SIZES, value=DEFAULT_VIDEO_SIZE, label="Video size (longest side)", elem_id="max_size"
                    )
                with gr.Row():
                    run = gr.Button("Animate", variant="primary", elem_id="animate")
                    again = gr.Button("Re-animate (reuse the fitted photo)", elem_id="reanimate")
            with gr.Column():
                video = gr.Video(label="Video", autoplay=True, loop=True, elem_id="video")
                files = gr.File(label="Downloads (mp4, GIF)", file_count="multiple", elem_id="downloads")
                overlay = gr.Image(label="What moves (blue)", type="pil", interactive=False, elem_id="overlay")
                report = gr.Markdown(elem_id="report")
        inputs = [
            editor,
            style,
            motion,
            direction,
            speed,
            num_frames,
            fps,
            preset,
            loop,
            mode,
            seed,
            motion_source,
            max_size,
            dtype,
        ]
        outputs = [video, files, overlay, report]
        run.click(animate_ui, inputs, outputs, api_visibility="private", concurrency_id="render")
        again.click(reanimate_ui, inputs, outputs, api_visibility="private", concurrency_id="render")
        preview.click(
            preview_styles_ui,
            [editor, preset, mode, seed],
            previews,
            api_visibility="private",
            concurrency_id="render",
        )
        previews.select(style_from_preview, None, style, api_visibility="private")
        editor.upload(
            preview_mask,
            editor,
            overlay,
            api_visibility="private",
            concurrency_id="mask",
            concurrency_limit=2,
            show_progress="minimal",
        )

        # The API: plain values in, an mp4 file out (hidden widgets, so the API page documents the choices).
        with gr.Group(visible=False):
            api_photo = gr.File(label="photo", file_types=None)
            api_style = gr.Dropdown([value for _, value in choices], value=KEEP_LIGHT, label="style")
            api_motion = gr.Dropdown(
                [value for _, value in MOTION_CHOICES if value != CUSTOM_DIRECTION],
                value=DEFAULT_MOTION,
                label="motion",
            )
            api_speed = gr.Number(value=1.0, label="speed")
            api_frames = gr.Number(value=DEFAULT_FRAMES, precision=0, label="num_frames")
            api_fps = gr.Number(value=DEFAULT_FPS, precision=0, label="fps")
            api_preset = gr.Dropdown(list(QUALITY_PRESETS), value="fast", label="preset")
            api_loop = gr.Checkbox(value=False, label="loop")
            api_seed = gr.Number(value=0, precision=0, label="seed")
            api_video = gr.File(label="video")
            api_button = gr.Button("animate")
        api_button.click(
            animate,
            [api_photo, api_style, api_motion, api_speed, api_frames, api_fps, api_preset, api_loop, api_seed],
            api_video,
            api_name="animate",
            concurrency_id="render",
        )

        offered = {value for _, value in choices}  # an example whose style this model cannot render is left out
        examples = [(EXAMPLES_DIR / name, style, motion) for name, style, motion in EXAMPLES if style in offered]
        examples = [[str(path), style, motion] for path, style, motion in examples if path.is_file()]
        if examples:
            gr.Examples(
                examples,
                inputs=[editor, style, motion],
                outputs=outputs,
                fn=animate_example,
                cache_examples=True,
                cache_mode="lazy",
                label="Examples (photos and licenses: examples/SOURCES.md)",
            )
    demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the DeepLandscape Gradio demo.")
    parser.add_argument(
        "--model",
        default=os.environ.get("DEEPLANDSCAPE_MODEL") or None,
        help="hub id or local model folder (default: $DEEPLANDSCAPE_MODEL, else the bundled default model)",
    )
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    args = parse_args(argv)
    STATE.model = args.model
    try:  # load before serving, so a wrong --model fails here with a sentence and not on the first request
        get_pipeline()
    except (ModelNotFoundError, OSError, ValueError) as error:
        sys.exit(f"Cannot load the model {args.model or '(bundled default)'}: {error}")
    segment(Image.new("RGB", (64, 64)))  # load (or give up on) the segmentation model now, not on the first upload
    build_demo().launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=MAX_UPLOAD)


if __name__ == "__main__":
    main()
