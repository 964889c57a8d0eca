"""Input images and masks: loading any photo a user may hand us, and the authors' preprocessing.

Everything that enters the library from the outside world passes through here, so the rest of the code can assume
an RGB PIL image (or a float tensor in [-1, 1]) and a float mask in [0, 1] with 1 = movable. Camera-sized photos
(24-200 MP) are decoded straight at the size the caller needs (`max_side`): JPEGs at 1/2, 1/4 or 1/8 scale inside
the decoder, so their full-size bitmap never exists. Decompression bombs are refused from the file's header alone.
Phones' HEIC photos open through pillow-heif; a video handed over as a photo gets an error that says so.

Preprocessing follows the official `inference/encode_and_animate.py`: shorter side ->
600 px, shorter side -> G resolution (bilinear), centre square crop; we also return the crop box so results can be
composited back onto the full-resolution photo.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

register_heif_opener()  # HEIC/HEIF, what phones save photos as, opens through PIL like any other format

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_SIDE_PX",
    "MAX_IN_RESOLUTION",
    "MAX_PIXELS_PER_BYTE",
    "CropBox",
    "ImageInput",
    "InvalidImageError",
    "MaskInput",
    "load_image",
    "load_mask",
    "official_resize_and_crop",
    "parse_max_side",
    "pil_to_tensor",
    "tensor_to_pil",
    "working_size",
]

logger = logging.getLogger(__name__)

DEFAULT_MIN_SIDE_PX = 32  # smaller inputs carry no usable landscape; the G's first crop is 256 px anyway
# A header claiming more pixels than this is refused whatever the file: 5x the largest phone sensor (200 MP), and an
# RGB decode of it is 3 GB, more than a demo server should hand to one upload.
DEFAULT_MAX_PIXELS = 1_000_000_000
# Above DENSITY_CHECK_PIXELS a file must also pay for its pixels with bytes. A camera JPEG spends 1-5 bits a pixel
# (2-8 pixels per byte) and a photo PNG 8 bits or more (at most 1). Even a perfectly flat RGB picture cannot do much
# better than ~170 pixels per byte as JPEG (every 8x8 block costs a few bits) or ~340 as PNG (deflate expands at most
# ~1000:1, and an RGB pixel is 3 bytes). A file that claims more pixels per byte than MAX_PIXELS_PER_BYTE is built to
# expand (1-bit or grey data of one value) or has a header that promises data the file does not hold: either way,
# decoding it would allocate memory the file never paid for.
MAX_PIXELS_PER_BYTE = 400
DENSITY_CHECK_PIXELS = 64_000_000  # below this any decode is affordable (64 MP RGBA: 256 MB), however small the file
FULL_SIZE_WORDS = ("full", "0")  # how users ask for no size limit (CLI, app, pipeline.json)
MAX_IN_RESOLUTION = 600  # official configs/inference/*: `max_in_resolution: 600`
BACKGROUND_RGB = (255, 255, 255)  # transparent pixels are composited on white (see `load_image`)
TWO_TONE_MASK_SHARE = 0.01  # a mask whose opaque pixels are this much black and this much white is read by brightness

ImageInput = str | os.PathLike | Image.Image | np.ndarray
MaskInput = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor

# PIL's decompression-bomb limit is a module global; we change it only for the duration of one open, under a lock,
# so that other users of PIL in the same process keep their own setting.
_PIL_LIMIT_LOCK = threading.Lock()


class InvalidImageError(ValueError):
    """The input is not an image we can use (unreadable, truncated, too small, too large, odd array)."""


@dataclass(frozen=True)
class CropBox:
    """A crop rectangle in the ORIGINAL image's pixel coordinates (float, PIL order: left, top, right, bottom).

    Floats, because the square crop of a resized image rarely falls on whole pixels of the original; use
    `as_int()` for PIL's `crop`/`paste`, or the floats for sub-pixel resampling.
    """

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    def as_int(self) -> tuple[int, int, int, int]:
        """Nearest whole-pixel box, for `Image.crop` / `Image.paste`."""
        return (round(self.left), round(self.top), round(self.right), round(self.bottom))


# ----------------------------------------------------------------------------------------------------------------------
# Loading images


LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of (..., 3) colours (the weights of PIL's 'L'), float32."""
    return np.asarray(rgb, np.float32) @ np.array(LUMA_WEIGHTS, np.float32)


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return f"'{os.fspath(source)}'"
    return f"the given {type(source).__name__}"


class _PixelLimit:
    """Temporarily set `Image.MAX_IMAGE_PIXELS` (restored on exit), serialised by a lock."""

    def __init__(self, max_pixels: int | None):
        self.max_pixels = max_pixels
        self.previous: int | None = None

    def __enter__(self) -> None:
        _PIL_LIMIT_LOCK.acquire()
        self.previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = self.max_pixels

    def __exit__(self, *exc: object) -> None:
        Image.MAX_IMAGE_PIXELS = self.previous
        _PIL_LIMIT_LOCK.release()


def _too_many_pixels_message(name: str, width: int, height: int, max_pixels: int) -> str:
    return (
        f"{name} is {width}x{height} pixels ({width * height / 1e6:.1f} MP), more than the limit of "
        f"{max_pixels / 1e6:.0f} MP. Such files can exhaust memory (a 'decompression bomb'); downscale the photo "
        "first, or raise the limit with max_pixels= if you trust the file."
    )


def _check_header(name: str, width: int, height: int, file_bytes: int, max_pixels: int | None) -> None:
    """Refuse a decompression bomb from its header, before any pixel is decoded (see MAX_PIXELS_PER_BYTE for why)."""
    if max_pixels is None:
        return
    pixels = width * height
    if pixels > max_pixels:
        raise InvalidImageError(_too_many_pixels_message(name, width, height, max_pixels))
    density = pixels / max(1, file_bytes)
    if pixels > DENSITY_CHECK_PIXELS and density > MAX_PIXELS_PER_BYTE:
        raise InvalidImageError(
            f"{name} claims {width}x{height} pixels ({pixels / 1e6:.1f} MP) but holds only {file_bytes:,} bytes "
            f"({density:.0f} pixels per byte, where real photos stay far below {MAX_PIXELS_PER_BYTE}). Such a file is "
            "made to expand in memory (a 'decompression bomb') or is cut short. Re-export the photo, or pass "
            "max_pixels=None if you trust the file."
        )


def _open_path(
    path: Path, max_pixels: int | None, max_side: int | None = None, min_short_side: int = 0
) -> tuple[Image.Image, tuple[int, int]]:
    """Open and decode an image file, reduced towards `working_size` while decoding where the format allows it.

    Every failure becomes a clear `InvalidImageError`. Returns the upright image (EXIF orientation applied) in the
    file's colour mode, possibly smaller than the file (never smaller than `working_size`), and the upright size
    of the full picture.
    """
    name = f"'{path}'"
    if not path.exists():
        raise FileNotFoundError(f"{name} does not exist. Check the path to the photo.")
    if path.is_dir():
        raise InvalidImageError(f"{name} is a folder, not an image file. Pass the path of one photo.")
    file_bytes = path.stat().st_size
    if file_bytes == 0:
        raise InvalidImageError(f"{name} is empty (0 bytes): the upload or copy did not finish. Copy the file again.")
    try:
        with _PixelLimit(max_pixels), warnings.catch_warnings():
            # Above MAX_IMAGE_PIXELS PIL only warns; we check the size ourselves right after the header is read.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        try:
            width, height = image.size
            _check_header(name, width, height, file_bytes, max_pixels)
            image.seek(0)  # animated GIF/WebP/APNG, multi-page TIFF: use the first frame
            target = working_size((width, height), max_side, min_short_side)
            if target != (width, height):
                image.draft(None, target)  # JPEG: decode at 1/2, 1/4 or 1/8 scale (never below target); others: no-op
            image.load()  # decode now, so truncated data fails here and not later inside the pipeline
            upright = _upright(image)  # a new image, detached from the file (TIFF keeps its orientation tag here)
            turned = upright.size != image.size  # 90-degree EXIF rotation (a square decode needs no swap anyway)
            full_size = (height, width) if turned else (width, height)
        finally:
            image.close()
    except Image.DecompressionBombError as error:
        raise InvalidImageError(
            f"{name} is too large to open safely ({error}). Downscale the photo first, or raise the limit with "
            "max_pixels= if you trust the file."
        ) from error
    except UnidentifiedImageError as error:
        if _is_video(path):
            raise InvalidImageError(
                f"{name} is a video, and a photo is needed: take one frame of it first (for example `ffmpeg -i "
                f"{path.name} -frames:v 1 frame.png`)."
            ) from error
        raise InvalidImageError(
            f"{name} is not a readable image: the format was not recognised. Use a JPEG, PNG, WebP, HEIC, BMP or "
            "TIFF file."
        ) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        if isinstance(error, InvalidImageError):
            raise
        raise InvalidImageError(
            f"{name} is not a readable image: {error}. The file may be truncated or corrupt; re-export or "
            "re-download it."
        ) from error
    return upright, full_size


def _is_video(path: Path) -> bool:
    """Whether the file starts like a video container PIL cannot open: ISO media (MP4, MOV; the HEIC photos it
    shares this box with open fine), AVI, or Matroska/WebM."""
    with path.open("rb") as file:
        head = file.read(12)
    return head[4:8] == b"ftyp" or (head[:4] == b"RIFF" and head[8:12] == b"AVI ") or head[:4] == b"\x1aE\xdf\xa3"


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (phone photos are stored sideways). Always returns a new image."""
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a malformed EXIF block should not make a decodable photo unusable
        upright = None
    return upright if upright is not None else image.copy()


def _array_to_pil(array: np.ndarray, name: str) -> Image.Image:
    """Turn an (H, W), (H, W, C) or channel-first (C, H, W) array into a PIL image without guessing silently."""
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # channel-first, e.g. from a torch tensor's .numpy()
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise InvalidImageError(
            f"{name} has shape {array.shape}; expected (H, W) grayscale, (H, W, 3) RGB or (H, W, 4) RGBA."
        )
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype == np.uint16:
        array = (array.astype(np.float32) / 257.0).round().astype(np.uint8)  # 65535 / 255 = 257 exactly
    elif np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(array)
        if not finite.all():
            raise InvalidImageError(f"{name} contains NaN or infinite values.")
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise InvalidImageError(
                f"{name} is a float array with values in [{low:.3g}, {high:.3g}]; float images must lie in [0, 1]. "
                "Divide by 255 (or pass a uint8 array)."
            )
        array = (array * 255.0).round().astype(np.uint8)
    elif array.dtype != np.uint8:
        raise InvalidImageError(f"{name} has dtype {array.dtype}; use uint8, uint16, bool, or float in [0, 1].")
    return Image.fromarray(np.ascontiguousarray(array))  # mode follows the shape: L, RGB or RGBA


def _high_bit_depth_to_8bit(image: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer or float grayscale to 8 bits. PIL's own convert('L') clips instead of scaling."""
    values = np.asarray(image)
    if image.mode.startswith("I;16"):
        scaled = values.astype(np.float32) / 257.0  # full 16-bit range -> 0..255
    elif image.mode == "I":
        # 'I' (int32) almost always holds 16-bit data (older PIL opened 16-bit PNGs this way); anything larger is
        # scaled by its own maximum so the picture stays visible rather than clipping to white.
        peak = float(values.max(initial=0))
        scaled = values.astype(np.float32) * (255.0 / (65535.0 if peak <= 65535 else peak))
    else:  # 'F': float data, [0, 1] if it fits there, otherwise taken as 0..255
        peak = float(np.nanmax(values)) if values.size else 0.0
        scaled = values.astype(np.float32) * (255.0 if peak <= 1.0 else 1.0)
    return Image.fromarray(np.clip(np.nan_to_num(scaled).round(), 0, 255).astype(np.uint8))


def _to_srgb(image: Image.Image) -> Image.Image:
    """Apply an embedded ICC profile (CMYK press profiles, Display P3 / Adobe RGB photos) when Little CMS is there."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "CMYK"):
        return image
    try:
        import io

        from PIL import ImageCms

        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        target = ImageCms.createProfile("sRGB")
        converted = ImageCms.profileToProfile(image, source, target, outputMode="RGB")
        return converted if converted is not None else image
    except Exception:  # noqa: BLE001 - a broken profile must not stop us; PIL's plain conversion follows
        return image


def _to_rgb(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB.

    Transparency is composited onto `background` (white by default) rather than dropped: the colour stored under
    fully transparent pixels is arbitrary (often black or leftover data from an editor), so dropping alpha can
    reveal garbage, while white matches how viewers and browsers show the picture on a light page.
    """
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        image = _high_bit_depth_to_8bit(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode in ("L", "1") and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBa", "La"):  # premultiplied alpha
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        if image.info.get("icc_profile"):  # the profile describes the colours, not the alpha (screenshots in P3)
            colour = _to_srgb(rgba.convert("RGB"))
            rgba = Image.merge("RGBA", (*colour.split(), rgba.getchannel("A")))
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    if image.mode in ("RGB", "CMYK"):
        image = _to_srgb(image)
    if image.mode == "RGB":
        return image
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as error:
        message = f"Images in colour mode '{image.mode}' cannot be converted to RGB ({error})."
        raise InvalidImageError(message) from error


def working_size(size: tuple[int, int], max_side: int | None, min_short_side: int = 0) -> tuple[int, int]:
    """(W, H) a photo of `size` is worked on at: the longer side at most `max_side` (aspect kept), but the shorter
    side not below `min_short_side` (a panorama keeps enough height for segmentation and inversion). Never larger
    than `size`; `max_side` None keeps `size`."""
    width, height = size
    if max_side is None:
        return width, height
    if max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels or None (full size), got {max_side}.")
    scale = max(max_side / max(width, height), min_short_side / min(width, height))
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def parse_max_side(value: int | str | None) -> int | None:
    """A user's output-size choice -> longest side in px, or None for the photo's full size.

    Accepts a positive int or its string ("1920"), and "full", "0", 0 or None for no limit (CLI ``--max-size``, the
    app's option, ``pipeline.json``'s ``max_output_side``).
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in FULL_SIZE_WORDS):
        return None
    try:
        side = int(value)
    except (TypeError, ValueError):
        side = -1
    if isinstance(value, float) and value != side:
        side = -1
    if side == 0:
        return None
    if side < 0:
        raise ValueError(f"The output size must be a number of pixels (e.g. 1920) or 'full', got {value!r}.")
    return side


def _shrink(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Downscale to exactly `size`: a whole-factor box reduction first, then Lanczos over the last 2x or more.

    The gap of 2 halves the time of a 50 MP -> 2 MP resize against 3 (PIL's "indistinguishable from fair" setting),
    and a box average followed by a Lanczos step of at least 2x leaves no visible aliasing on photos.
    """
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


def _log_reduction(name: str, stored: tuple[int, int], decoded: tuple[int, int], final: tuple[int, int]) -> None:
    how = "" if decoded == stored else f", decoded at {decoded[0]}x{decoded[1]} (scaled in the JPEG decoder)"
    logger.info(
        "%s is %dx%d (%.1f MP); working at %dx%d%s",
        name,
        stored[0],
        stored[1],
        stored[0] * stored[1] / 1e6,
        final[0],
        final[1],
        how,
    )


def load_image(
    image: ImageInput,
    *,
    min_side_px: int = DEFAULT_MIN_SIDE_PX,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    background: tuple[int, int, int] = BACKGROUND_RGB,
    max_side: int | None = None,
    min_short_side: int = 0,
) -> Image.Image:
    """Load a photo from a path, PIL image or numpy array as an upright 8-bit RGB PIL image.

    Handles every PIL mode: grayscale, 16-bit ('I;16', 'I') scaled to 8 bits, CMYK and ICC-tagged photos (converted
    to sRGB), palette images, and transparency (RGBA/LA/'P' with transparency are composited on `background`,
    white by default: see `_to_rgb` for why). EXIF orientation is applied, so phone photos come out upright.
    Arrays may be uint8, uint16, bool or float in [0, 1], shaped (H, W), (H, W, 3|4) or channel-first.

    Args:
        max_side: return the photo at most this many px on its longer side (see `working_size`; None: full size).
            Files are decoded reduced where the format allows (JPEG: 1/2, 1/4, 1/8 in the decoder), so a 200 MP
            camera JPEG never exists at full size in memory; other formats are decoded, then reduced. The size
            used is logged once (INFO) when the photo was reduced.
        min_short_side: but keep at least this many px on the shorter side (what segmentation and inversion need).
        max_pixels: refuse files whose header claims more pixels, and large files with more than
            `MAX_PIXELS_PER_BYTE` pixels per byte of file (decompression bombs); None disables both checks.

    Raises:
        FileNotFoundError: the path does not exist.
        InvalidImageError: not an image, truncated or corrupt, smaller than `min_side_px` on a side, or a
            decompression bomb (see `max_pixels`).
    """
    name = _describe(image)
    if isinstance(image, (str, os.PathLike)):
        pil, full_size = _open_path(Path(image), max_pixels, max_side, min_short_side)
    elif isinstance(image, (Image.Image, np.ndarray)):
        pil = image if isinstance(image, Image.Image) else _array_to_pil(image, name)
        if max_pixels is not None and pil.width * pil.height > max_pixels:
            raise InvalidImageError(_too_many_pixels_message(name, pil.width, pil.height, max_pixels))
        pil = _upright(pil)  # files were turned upright while open
        full_size = pil.size
    else:
        raise InvalidImageError(
            f"Cannot load an image from a {type(image).__name__}; pass a file path, a PIL image or a numpy array."
        )
    if min(full_size) < min_side_px:
        raise InvalidImageError(
            f"{name} is {full_size[0]}x{full_size[1]} pixels; images must be at least {min_side_px} px on each side. "
            "Use a larger photo."
        )
    decoded_size = pil.size
    rgb = _to_rgb(pil, background)
    target = working_size(full_size, max_side, min_short_side)
    if target != full_size:
        rgb = _shrink(rgb, target)
        _log_reduction(name, full_size, decoded_size, target)
    return rgb


# ----------------------------------------------------------------------------------------------------------------------
# Tensors


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float32 tensor (1, 3, H, W) in [-1, 1], the library's internal image convention."""
    if image.mode != "RGB":
        image = _to_rgb(image, BACKGROUND_RGB)
    array = np.asarray(image, dtype=np.uint8)
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1).float()  # (3, H, W)
    return (tensor / 127.5 - 1.0).unsqueeze(0)


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    """Float tensor (3, H, W) or (1, 3, H, W) in [-1, 1] -> RGB PIL image (values outside are clipped)."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"tensor_to_pil expects a torch.Tensor, got {type(tensor).__name__}.")
    if tensor.dim() == 4:
        if tensor.shape[0] != 1:
            raise ValueError(
                f"tensor_to_pil converts one image, got a batch of {tensor.shape[0]}; index it (tensor[i]) first."
            )
        tensor = tensor[0]
    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise ValueError(f"tensor_to_pil expects shape (3, H, W) or (1, 3, H, W), got {tuple(tensor.shape)}.")
    uint8 = ((tensor.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return Image.fromarray(uint8.permute(1, 2, 0).numpy())


# ----------------------------------------------------------------------------------------------------------------------
# The authors' preprocessing


def _resize_shorter_side(image: Image.Image, shorter_side: int) -> Image.Image:
    """Resize so that min(W, H) == shorter_side, keeping the aspect ratio (official `get_scale_size`: up or down)."""
    width, height = image.size
    scale = shorter_side / min(width, height)
    new_size = (max(shorter_side, round(width * scale)), max(shorter_side, round(height * scale)))
    if new_size == image.size:
        return image
    return image.resize(new_size, Image.Resampling.BILINEAR)


def official_resize_and_crop(
    image: Image.Image, resolution: int, max_in_resolution: int = MAX_IN_RESOLUTION
) -> tuple[Image.Image, CropBox]:
    """The authors' preprocessing: shorter side -> `max_in_resolution`, shorter side -> `resolution`, centre square.

    Both resizes are bilinear, as in `inference/encode_and_animate.py`. The two-step resize is kept (rather than
    one direct resize) because it changes the pixels slightly and the published numbers were measured with it.

    Returns:
        The `resolution` x `resolution` RGB crop, and its `CropBox` in the ORIGINAL image's coordinates, so the
        pipeline can map the animated square back onto the full-resolution photo.
    """
    if resolution <= 0 or max_in_resolution <= 0:
        raise ValueError(f"resolution and max_in_resolution must be positive, got {resolution}, {max_in_resolution}.")
    if image.mode != "RGB":
        image = _to_rgb(image, BACKGROUND_RGB)
    original_w, original_h = image.size
    working = _resize_shorter_side(image, max_in_resolution)
    working = _resize_shorter_side(working, resolution)
    work_w, work_h = working.size
    left = (work_w - resolution) // 2
    top = (work_h - resolution) // 2
    crop = working.crop((left, top, left + resolution, top + resolution))
    scale_x = original_w / work_w
    scale_y = original_h / work_h
    box = CropBox(
        left=left * scale_x, top=top * scale_y, right=(left + resolution) * scale_x, bottom=(top + resolution) * scale_y
    )
    return crop, box


# ----------------------------------------------------------------------------------------------------------------------
# Masks


def _alpha_or_brightness(brightness: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """The mask a picture with ``alpha`` (None: opaque) and ``brightness`` means, both (H, W) in [0, 1].

    With real transparency, alpha decides (opaque = movable): a mask painted in an editor is usually coloured strokes
    on a transparent layer, where the stroke colour (red, say) would read as dark grey by luminance. Unless its opaque
    pixels are black and white themselves (a black-and-white mask that an editor saved with a transparent corner or
    border): then white and opaque is movable, and alpha alone would make the whole photo move.
    """
    if alpha is None or alpha.min() >= 1.0:
        return brightness
    opaque = brightness[alpha >= 0.5]
    if opaque.size and min((opaque <= 0.25).mean(), (opaque >= 0.75).mean()) >= TWO_TONE_MASK_SHARE:
        return brightness * alpha
    return alpha


def _mask_from_pil(image: Image.Image) -> np.ndarray:
    """PIL mask -> float (H, W) in [0, 1] (`_alpha_or_brightness`)."""
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        image = _high_bit_depth_to_8bit(image)
    if image.mode in ("RGBa", "La", "PA"):
        image = image.convert("RGBA")
    alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0 if image.mode in ("RGBA", "LA") else None
    return _alpha_or_brightness(np.asarray(image.convert("L"), dtype=np.float32) / 255.0, alpha)


def _mask_from_array(array: np.ndarray, name: str) -> np.ndarray:
    """Array mask -> float (H, W) in [0, 1]; same alpha/brightness rule as PNG masks."""
    array = np.squeeze(array)
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[-1] not in (3, 4):
        array = np.moveaxis(array, 0, -1)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise InvalidImageError(f"{name} has shape {array.shape}; a mask must be (H, W), (H, W, 3) or (H, W, 4).")
    if array.dtype == np.bool_:
        values = array.astype(np.float32)
    elif array.dtype == np.uint8:
        values = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        values = array.astype(np.float32) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        values = array.astype(np.float32)
        if not np.isfinite(values).all() or values.min() < 0.0 or values.max() > 1.0:
            raise InvalidImageError(f"{name} is a float mask with values outside [0, 1]; scale it to [0, 1].")
    else:
        raise InvalidImageError(f"{name} has dtype {array.dtype}; use bool, uint8, uint16 or float in [0, 1].")
    if values.ndim == 3:
        alpha = values[..., 3] if values.shape[-1] == 4 else None
        values = _alpha_or_brightness(luma(values[..., :3]), alpha)  # luma as PIL's 'L'
    return np.ascontiguousarray(values, dtype=np.float32)


def load_mask(mask: MaskInput, size: Sequence[int] | None = None) -> np.ndarray:
    """Load a user mask as float32 (H, W) in [0, 1], 1 = movable (sky/water to animate).

    Accepts a PNG path or PIL image (L, RGB, RGBA, LA, P, 16-bit; white or opaque = movable; when the image has
    any transparency its alpha is used, unless its opaque pixels are black and white: `_alpha_or_brightness`), a
    numpy array (bool, uint8, uint16, float in [0, 1]) or a torch tensor (H, W), (1, H, W) or (1, 1, H, W) in
    [0, 1].

    Args:
        size: target (width, height) in PIL order, usually `image.size`. A mask of another size is resized
            (bilinear), with a warning when its shape differs (it was drawn on another crop of the photo, and is
            stretched); one of the same shape was drawn on a larger or smaller copy of the photo (the full-size
            photo that `load_image` reduced, or a video's frame from `--save-mask`) and is resized quietly.
    """
    name = _describe(mask)
    if isinstance(mask, (str, os.PathLike)):
        values = _mask_from_pil(_open_path(Path(mask), DEFAULT_MAX_PIXELS)[0])
    elif isinstance(mask, Image.Image):
        values = _mask_from_pil(mask)
    elif isinstance(mask, torch.Tensor):
        values = _mask_from_array(mask.detach().float().cpu().numpy(), name)
    elif isinstance(mask, np.ndarray):
        values = _mask_from_array(mask, name)
    else:
        raise InvalidImageError(
            f"Cannot load a mask from a {type(mask).__name__}; pass a PNG path, a PIL image, a numpy array or a tensor."
        )
    if size is not None:
        target_w, target_h = int(size[0]), int(size[1])
        height, width = values.shape
        if (width, height) != (target_w, target_h):
            if abs(width / height - target_w / target_h) > 0.01:
                warnings.warn(
                    f"The mask {name} is {width}x{height} but the image is {target_w}x{target_h}; resizing the mask "
                    "(bilinear). The aspect ratios differ too, so the mask will be stretched.",
                    UserWarning,
                    stacklevel=2,
                )
            resized = Image.fromarray(values).resize((target_w, target_h), Image.Resampling.BILINEAR)
            values = np.asarray(resized, dtype=np.float32)
    return np.clip(values, 0.0, 1.0).astype(np.float32, copy=False)
