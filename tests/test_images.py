"""Input image/mask loading: every PIL mode, EXIF orientation, clear errors, and the authors' crop."""

from __future__ import annotations

import logging
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from deeplandscape_hf.animation.images import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_PER_BYTE,
    CropBox,
    InvalidImageError,
    load_image,
    load_mask,
    official_resize_and_crop,
    parse_max_side,
    pil_to_tensor,
    tensor_to_pil,
    working_size,
)


def _gradient_rgb(width: int = 48, height: int = 40) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], -1).round().astype(np.uint8))


# ----------------------------------------------------------------------------------------------------------------------
# modes


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 0] = 200  # red stored everywhere, also under transparent pixels
    rgba[:20, :, 3] = 255  # top half opaque, bottom half fully transparent
    rgba[20:30, :, 3] = 128  # a half-transparent band
    Image.fromarray(rgba).save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.mode == "RGB" and image.size == (40, 40)
    pixels = np.asarray(image)
    assert tuple(pixels[0, 0]) == (200, 0, 0)
    assert tuple(pixels[-1, 0]) == (255, 255, 255)  # transparent -> white background, not the hidden red
    assert 200 <= pixels[25, 0, 0] <= 230 and 120 <= pixels[25, 0, 1] <= 135  # 50 % blend of red and white


def test_grayscale_and_one_bit_become_rgb(tmp_path):
    gray = Image.fromarray(np.full((36, 36), 77, np.uint8))
    gray.save(tmp_path / "g.png")
    pixels = np.asarray(load_image(tmp_path / "g.png"))
    assert pixels.shape == (36, 36, 3) and (pixels == 77).all()
    assert np.asarray(load_image(Image.new("1", (33, 33), 1))).min() == 255


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 100, 65535, 32768]], np.uint16).repeat(40, 0).repeat(10, 1)  # (40, 40)
    Image.fromarray(values).save(tmp_path / "16.png")
    with Image.open(tmp_path / "16.png") as opened:
        assert opened.mode.startswith("I")  # PIL keeps the 16 bits
    pixels = np.asarray(load_image(tmp_path / "16.png"))[0, :, 0]
    assert pixels[0] == 0 and pixels[10] == 100 and pixels[20] == 255 and pixels[30] in (127, 128)
    # 32-bit 'I' images holding 16-bit data are scaled the same way
    int_image = Image.fromarray(values.astype(np.int32))
    assert int_image.mode == "I"
    assert np.asarray(load_image(int_image))[0, 10, 0] == 100


def test_a_colour_profile_applies_to_photos_with_transparency_too(tmp_path, monkeypatch):
    """An RGBA PNG with an ICC profile (a Display P3 screenshot) gets the same colour conversion as an RGB one."""
    from deeplandscape_hf.animation import images

    def swap_red_and_blue(image):  # stands in for Little CMS: any visible change of the colours
        red, green, blue = image.split()
        return Image.merge("RGB", (blue, green, red))

    monkeypatch.setattr(images, "_to_srgb", swap_red_and_blue)
    colour = Image.new("RGB", (40, 40), (60, 160, 90))
    colour.save(tmp_path / "rgb.png", icc_profile=b"profile")
    colour.convert("RGBA").save(tmp_path / "rgba.png", icc_profile=b"profile")
    for name in ("rgb.png", "rgba.png"):
        assert tuple(np.asarray(load_image(tmp_path / name))[0, 0]) == (90, 160, 60), name


def test_cmyk_and_palette_with_transparency(tmp_path):
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # pure red in CMYK
    cmyk.save(tmp_path / "c.jpg", quality=95)
    red = np.asarray(load_image(tmp_path / "c.jpg")).reshape(-1, 3).mean(0)
    assert red[0] > 200 and red[1] < 60 and red[2] < 60

    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    palette.paste(1, (0, 0, 40, 20))
    palette.info["transparency"] = 0  # colour 0 (black) is transparent
    palette.save(tmp_path / "p.png")
    pixels = np.asarray(load_image(tmp_path / "p.png"))
    assert tuple(pixels[0, 0]) == (10, 200, 30)
    assert tuple(pixels[-1, -1]) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    image = _gradient_rgb(64, 40)  # landscape as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image.save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    upright = load_image(tmp_path / "rot.jpg")
    assert upright.size == (40, 64)


def test_a_heic_photo_from_a_phone_opens_upright(tmp_path):
    """Phones save photos as HEIC; pillow-heif registers the format with PIL, and its rotation is applied once."""
    image = _gradient_rgb(64, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image.save(tmp_path / "phone.heic", exif=exif.tobytes(), quality=95)
    upright = load_image(tmp_path / "phone.heic")
    assert upright.size == (40, 64) and upright.mode == "RGB"
    displayed = np.asarray(image.transpose(Image.Transpose.ROTATE_270), np.float32)  # 90 degrees clockwise
    assert np.abs(np.asarray(upright, np.float32) - displayed).mean() < 3.0  # lossy HEIC: about 2 levels here


def test_arrays_of_common_dtypes():
    rgb = np.asarray(_gradient_rgb())
    assert np.array_equal(np.asarray(load_image(rgb)), rgb)
    assert np.array_equal(np.asarray(load_image(rgb.astype(np.float32) / 255.0)), rgb)
    assert np.array_equal(np.asarray(load_image(rgb.astype(np.uint16) * 257)), rgb)
    assert np.array_equal(np.asarray(load_image(np.moveaxis(rgb, -1, 0))), rgb)  # channel-first
    with pytest.raises(InvalidImageError, match=r"\[0, 1\]"):
        load_image(rgb.astype(np.float32))  # 0..255 floats: ambiguous, refused with the fix in the message
    with pytest.raises(InvalidImageError, match="shape"):
        load_image(np.zeros((40, 40, 2), np.uint8))


# ----------------------------------------------------------------------------------------------------------------------
# errors


def test_not_an_image_and_truncated_files_raise_clear_errors(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo")
    with pytest.raises(InvalidImageError, match=r"'.*notes\.jpg' is not a readable image"):
        load_image(text)

    _gradient_rgb(200, 200).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidImageError, match=r"cut\.jpg' is not a readable image.*truncated"):
        load_image(tmp_path / "cut.jpg")

    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image(tmp_path / "missing.png")

    # A clip dropped where a photo belongs: an MP4 starts with an ISO media 'ftyp' box that PIL cannot open.
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(64))
    with pytest.raises(InvalidImageError, match=r"clip\.mp4' is a video.*ffmpeg -i clip\.mp4 -frames:v 1"):
        load_image(tmp_path / "clip.mp4")

    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InvalidImageError, match=r"empty\.png' is empty \(0 bytes\)"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(InvalidImageError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(InvalidImageError, match="Cannot load an image from a int"):
        load_image(3)  # type: ignore[arg-type]


def test_too_small_image_is_refused(tmp_path):
    Image.new("RGB", (31, 100)).save(tmp_path / "thin.png")
    with pytest.raises(InvalidImageError, match=r"31x100 pixels; images must be at least 32 px"):
        load_image(tmp_path / "thin.png")
    assert load_image(tmp_path / "thin.png", min_side_px=8).size == (31, 100)


@pytest.mark.parametrize("max_pixels", [3000, 1000])  # 4096 px: over the limit (PIL warns) / over 2x (PIL raises)
def test_decompression_bombs_are_refused_without_touching_the_global_limit(tmp_path, max_pixels):
    before = Image.MAX_IMAGE_PIXELS
    Image.new("RGB", (64, 64)).save(tmp_path / "big.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may leak out either
        with pytest.raises(InvalidImageError, match="too large|more than the limit"):
            load_image(tmp_path / "big.png", max_pixels=max_pixels)
    assert before == Image.MAX_IMAGE_PIXELS
    assert load_image(tmp_path / "big.png", max_pixels=None).size == (64, 64)
    with pytest.raises(InvalidImageError, match="more than the limit"):
        load_image(Image.new("RGB", (64, 64)), max_pixels=max_pixels)


# ----------------------------------------------------------------------------------------------------------------------
# camera-sized photos and decompression bombs

QUADRANT_RGB = ((200, 40, 40), (40, 200, 40), (40, 40, 200), (220, 220, 60))  # top-left, top-right, bottom-l., -r.


def _quadrant_photo(width: int, height: int) -> Image.Image:
    """Four flat quadrants: cheap to make at 100+ MP, compresses small, and shows which way up it came out."""
    image = Image.new("RGB", (width, height), QUADRANT_RGB[0])
    image.paste(QUADRANT_RGB[1], (width // 2, 0, width, height // 2))
    image.paste(QUADRANT_RGB[2], (0, height // 2, width // 2, height))
    image.paste(QUADRANT_RGB[3], (width // 2, height // 2, width, height))
    return image


def _quadrant_colours(image: Image.Image) -> np.ndarray:
    width, height = image.size
    points = [(width // 4, height // 4), (3 * width // 4, height // 4), (width // 4, 3 * height // 4)]
    points.append((3 * width // 4, 3 * height // 4))
    return np.array([image.getpixel(point) for point in points], dtype=int)


def _png_header(path, width: int, height: int, padding: int = 0) -> None:
    """A PNG whose header claims width x height RGB pixels, with `padding` bytes of a private chunk and no real data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    filler = chunk(b"prVt", bytes(padding)) if padding else b""
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + header + filler + chunk(b"IDAT", zlib.compress(bytes(64))) + chunk(b"IEND", b"")
    )


def test_working_size_and_output_size_choices():
    assert working_size((16320, 12240), 1920) == (1920, 1440)  # 200 MP, 4:3
    assert working_size((12240, 16320), 1920, 600) == (1440, 1920)
    assert working_size((20000, 2000), 1920, 600) == (6000, 600)  # a panorama keeps 600 px of height
    assert working_size((1000, 800), 1920, 600) == (1000, 800)  # never enlarged
    assert working_size((16320, 12240), None, 600) == (16320, 12240)
    assert parse_max_side(1920) == 1920 and parse_max_side("2560") == 2560
    assert parse_max_side("full") is None and parse_max_side(0) is None and parse_max_side(None) is None
    for bad in ("huge", -5, 1.5):
        with pytest.raises(ValueError, match="number of pixels"):
            parse_max_side(bad)


@pytest.mark.parametrize(  # 6: turn 90 degrees clockwise to display; the decoder's 1/4 scale keeps >= 1920 x 1440
    "orientation,expected_size,decoded_size,expected_quadrants",
    [(1, (1920, 1440), (3000, 2250), (0, 1, 2, 3)), (6, (1440, 1920), (2250, 3000), (2, 0, 3, 1))],
)
def test_a_108_megapixel_jpeg_is_decoded_reduced_and_upright(
    tmp_path, caplog, orientation, expected_size, decoded_size, expected_quadrants
):
    exif = Image.Exif()
    exif[0x0112] = orientation
    _quadrant_photo(12000, 9000).save(tmp_path / "camera.jpg", quality=90, exif=exif.tobytes())  # over PIL's limit
    caplog.set_level(logging.INFO, logger="deeplandscape_hf.animation.images")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning either
        photo = load_image(tmp_path / "camera.jpg", max_side=1920, min_short_side=600)
    assert photo.mode == "RGB" and photo.size == expected_size
    expected = np.array([QUADRANT_RGB[i] for i in expected_quadrants])
    assert np.abs(_quadrant_colours(photo) - expected).max() <= 6  # JPEG rounding only
    width, height = expected_size
    assert f"working at {width}x{height}, decoded at {decoded_size[0]}x{decoded_size[1]}" in caplog.text
    assert caplog.text.count("working at") == 1


def test_a_54_megapixel_png_is_reduced_after_decoding(tmp_path, caplog):
    _quadrant_photo(9000, 6000).save(tmp_path / "scan.png", compress_level=1)
    caplog.set_level(logging.INFO, logger="deeplandscape_hf.animation.images")
    photo = load_image(tmp_path / "scan.png", max_side=1920, min_short_side=600)
    assert photo.mode == "RGB" and photo.size == (1920, 1280)
    assert np.abs(_quadrant_colours(photo) - np.array(QUADRANT_RGB)).max() == 0  # flat quadrants stay exact
    assert "9000x6000 (54.0 MP); working at 1920x1280" in caplog.text and "decoded at" not in caplog.text


def test_in_memory_photos_are_reduced_too():
    photo = load_image(_quadrant_photo(4000, 3000), max_side=600, min_short_side=600)
    assert photo.size == (800, 600)  # the shorter side may not drop below 600


def test_a_header_claiming_40000x40000_is_refused_before_decoding(tmp_path):
    _png_header(tmp_path / "bomb.png", 40000, 40000, padding=8_000_000)  # 200 pixels per byte: only the size is off
    with pytest.raises(InvalidImageError, match=r"40000x40000 pixels \(1600\.0 MP\).*decompression bomb"):
        load_image(tmp_path / "bomb.png", max_side=1920)
    assert DEFAULT_MAX_PIXELS == 1_000_000_000


def test_too_many_pixels_per_byte_is_refused(tmp_path):
    """72 MP (over the 64 MP from which files must pay for their pixels) in just under / over 400 pixels per byte."""
    pixels = 9000 * 8000
    _png_header(tmp_path / "dense.png", 9000, 8000, padding=pixels // MAX_PIXELS_PER_BYTE - 2_000)
    with pytest.raises(InvalidImageError, match=r"claims 9000x8000 pixels.*4\d\d pixels per byte.*decompression bomb"):
        load_image(tmp_path / "dense.png")
    _png_header(tmp_path / "paid.png", 9000, 8000, padding=pixels // MAX_PIXELS_PER_BYTE + 2_000)
    with pytest.raises(InvalidImageError, match="truncated"):  # past the header check: it fails on its missing data
        load_image(tmp_path / "paid.png")
    _png_header(tmp_path / "small.png", 8000, 8000)  # 64 MP: affordable however small the file, so no density check
    with pytest.raises(InvalidImageError, match="truncated"):
        load_image(tmp_path / "small.png")


# ----------------------------------------------------------------------------------------------------------------------
# tensors and the official crop


def test_tensor_round_trip_is_exact():
    image = _gradient_rgb()
    tensor = pil_to_tensor(image)
    assert tensor.shape == (1, 3, 40, 48) and tensor.dtype == torch.float32
    assert tensor.min() >= -1 and tensor.max() <= 1
    assert np.array_equal(np.asarray(tensor_to_pil(tensor)), np.asarray(image))
    clipped = np.asarray(tensor_to_pil(torch.tensor([5.0, -5.0, 0.0]).view(3, 1, 1).expand(3, 2, 2)))
    assert tuple(clipped[0, 0]) == (255, 0, 128)  # out-of-range values clip; 0 rounds to mid-grey
    with pytest.raises(ValueError, match="batch of 2"):
        tensor_to_pil(tensor.repeat(2, 1, 1, 1))


@pytest.mark.parametrize(
    ("size", "expected_box"), [((1200, 800), (200, 0, 1000, 800)), ((300, 450), (0, 75, 300, 375))]
)
def test_official_crop_is_a_centre_square_with_its_box_in_original_pixels(size, expected_box):
    image = _gradient_rgb(*size)
    crop, box = official_resize_and_crop(image, 64)
    assert crop.size == (64, 64) and crop.mode == "RGB"
    assert isinstance(box, CropBox)
    assert box.as_int() == expected_box
    assert box.width == pytest.approx(box.height)
    # the crop shows the same content as the box cut from the original
    reference = image.crop(box.as_int()).resize((64, 64), Image.Resampling.BILINEAR)
    assert np.abs(np.asarray(crop, np.float32) - np.asarray(reference, np.float32)).mean() < 3.0


def test_official_crop_on_a_real_photo(landscape_photos):
    photo = load_image(landscape_photos[0])
    crop, box = official_resize_and_crop(photo, 256)
    assert crop.size == (256, 256)
    assert 0 <= box.left < box.right <= photo.width + 1e-6 and 0 <= box.top < box.bottom <= photo.height + 1e-6


# ----------------------------------------------------------------------------------------------------------------------
# masks


def test_mask_from_grayscale_rgb_and_alpha_pngs(tmp_path):
    values = np.zeros((20, 30), np.uint8)
    values[:10] = 255
    Image.fromarray(values).save(tmp_path / "l.png")
    Image.fromarray(values).convert("RGB").save(tmp_path / "rgb.png")
    strokes = np.zeros((20, 30, 4), np.uint8)
    strokes[..., 0] = 255  # red brush colour: dark by luminance, so alpha must decide
    strokes[:10, :, 3] = 255
    Image.fromarray(strokes).save(tmp_path / "rgba.png")
    # a black-and-white mask that an editor saved with one transparent corner: its white still decides
    two_tone = np.dstack([values, values, values, np.full((20, 30), 255, np.uint8)])
    two_tone[0, 0, 3] = 0
    Image.fromarray(two_tone).save(tmp_path / "rgba_two_tone.png")
    for name in ("l.png", "rgb.png", "rgba.png", "rgba_two_tone.png"):
        mask = load_mask(tmp_path / name, (30, 20))
        assert mask.dtype == np.float32 and mask.shape == (20, 30)
        assert mask[:10, 1:].min() == 1.0 and mask[10:].max() == 0.0, name
        assert mask[0, 0] == (0.0 if name == "rgba_two_tone.png" else 1.0)  # the transparent corner stays still
    assert np.array_equal(load_mask(two_tone, (30, 20)), load_mask(tmp_path / "rgba_two_tone.png"))  # arrays alike


def test_mask_resize_warns_and_accepts_arrays_and_tensors():
    square = np.zeros((10, 10), bool)
    square[:5] = True
    with pytest.warns(UserWarning, match=r"10x10 but the image is 20x40.*aspect ratios differ"):
        mask = load_mask(square, (20, 40))
    assert mask.shape == (40, 20) and mask[:15].min() > 0.99 and mask[-15:].max() < 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tensor_mask = load_mask(torch.rand(1, 1, 8, 6), (6, 8))
        reduced = load_mask(np.kron(square, np.ones((8, 8), bool)), (20, 20))  # drawn on the full-size photo: quiet
    assert reduced.shape == (20, 20) and reduced[:9].min() > 0.99 and reduced[-9:].max() < 0.01
    assert tensor_mask.shape == (8, 6) and tensor_mask.min() >= 0 and tensor_mask.max() <= 1
    with pytest.raises(InvalidImageError, match="outside"):
        load_mask(np.full((8, 8), 2.0))
