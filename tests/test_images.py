"""Input image/mask loading: every PIL mode, EXIF orientation, clear errors, and the authors' crop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from deeplandscape_hf.animation.images import (
    CropBox,
    InvalidImageError,
    load_image,
    load_mask,
    official_resize_and_crop,
    pil_to_tensor,
    tensor_to_pil,
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
    for name in ("l.png", "rgb.png", "rgba.png"):
        mask = load_mask(tmp_path / name, (30, 20))
        assert mask.dtype == np.float32 and mask.shape == (20, 30)
        assert mask[:10].min() == 1.0 and mask[10:].max() == 0.0, name


def test_mask_resize_warns_and_accepts_arrays_and_tensors():
    square = np.zeros((10, 10), bool)
    square[:5] = True
    with pytest.warns(UserWarning, match=r"10x10 but the image is 20x40.*aspect ratios differ"):
        mask = load_mask(square, (20, 40))
    assert mask.shape == (40, 20) and mask[:15].min() > 0.99 and mask[-15:].max() < 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tensor_mask = load_mask(torch.rand(1, 1, 8, 6), (6, 8))
    assert tensor_mask.shape == (8, 6) and tensor_mask.min() >= 0 and tensor_mask.max() <= 1
    with pytest.raises(InvalidImageError, match="outside"):
        load_mask(np.full((8, 8), 2.0))
