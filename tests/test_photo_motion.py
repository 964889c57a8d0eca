"""The photo's own sky moved along the motion's flow field (photo_motion.py), and the colour transform that carries
the generator's light to the photo (colour_transfer.py); end to end through the pipeline's hybrid motion source."""

import numpy as np
import pytest
import torch
from test_pipeline import RESOLUTION, call, make_photo, model_dir, pipe  # noqa: F401 - pytest fixtures

from deeplandscape_hf.animation.colour_transfer import fit_colour_transform
from deeplandscape_hf.animation.photo_motion import CropFrame, PhotoFlow, fill_from_region
from deeplandscape_hf.motion import MotionPreset, frame_recipe


def translation(dx: float, dy: float = 0.0) -> MotionPreset:
    """Every control point shifted alike: a pure translation of dx, dy normalised units per frame."""
    return MotionPreset("translation", np.tile([dx, dy], (4, 1)))


def texture(height: int, width: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((3, height, width), generator=generator)


def flow_for(photo: torch.Tensor, motion: MotionPreset, horizon: float = 1.0, crop: CropFrame | None = None):
    _, height, width = photo.shape
    crop = crop or CropFrame((width - height) / 2, 0.0, float(height))
    sky = torch.zeros(height, width)
    split = round(crop.top + horizon * crop.side)
    sky[:split] = 1
    return PhotoFlow(photo, sky, 1 - sky, crop, motion.homographies(horizon), horizon)


def test_translation_moves_texture_by_the_expected_pixels():
    photo = texture(40, 80)
    # Sampling shifts of -4 / 20 normalised units per frame on a 40 px crop (20 px per unit): content moves +4 px.
    flow = flow_for(photo, translation(-4 / 20))
    displacement = flow.displacement(3)
    assert torch.allclose(displacement[..., 0], torch.full((40, 80), 12.0, dtype=torch.float64), atol=1e-3)
    assert torch.allclose(displacement[..., 1], torch.zeros(40, 80, dtype=torch.float64), atol=1e-3)
    recipe, _ = frame_recipe(np.arange(4.0), 4)
    moved = flow.advect(recipe, slice(3, 4))[0]
    assert torch.allclose(moved[:, :, 12:], photo[:, :, :-12], atol=1e-5)  # whole texture, whole width


def test_water_mirrors_the_sky_motion():
    photo = texture(40, 40)
    flow = flow_for(photo, MotionPreset("drift", np.tile([-0.01, 0.02], (4, 1))), horizon=0.5)
    displacement = flow.displacement(1)
    sky, water = displacement[: flow.split_row], displacement[flow.split_row :]
    assert flow.split_row == 20
    assert (sky[..., 1] < -0.1).all() and (water[..., 1] > 0.1).all()  # up in the sky, down in its reflection
    assert (sky[..., 0] > 0.1).all() and (water[..., 0] > 0.1).all()  # the same way sideways


def test_wide_photo_moves_outside_the_crop_and_has_no_holes_at_borders():
    photo = torch.full((3, 30, 120), 0.25)
    photo[1] = 0.5
    flow = flow_for(photo, translation(0.05, 0.03))  # large motion: many pixels read from beyond the border
    recipe, _ = frame_recipe(np.arange(10.0), 10)
    moved = flow.advect(recipe, slice(0, 10))
    assert torch.isfinite(moved).all()
    assert torch.allclose(moved, photo.expand_as(moved), atol=1e-5)  # a uniform sky stays uniform: no holes, no smear
    striped = texture(30, 120)
    moved = flow_for(striped, translation(-0.1)).advect(recipe, slice(9, 10))[0]
    crop_left = (120 - 30) // 2
    assert (moved[:, :, :crop_left] - striped[:, :, :crop_left]).abs().mean() > 0.1  # left of the crop box
    assert (moved[:, :, -crop_left:] - striped[:, :, -crop_left:]).abs().mean() > 0.1  # and right of it


def test_sampling_never_reads_land():
    photo = torch.zeros(3, 40, 40)
    photo[2, :20] = 1.0  # blue sky
    photo[0, 20:] = 1.0  # red land
    sky = torch.zeros(40, 40)
    sky[:20] = 1
    flow = PhotoFlow(photo, sky, torch.zeros(40, 40), CropFrame(0, 0, 40), translation(0.0, 0.1).homographies(1.0), 1)
    moved = flow.advect(frame_recipe(np.arange(6.0), 6)[0], slice(5, 6))[0]
    assert moved[0, :20].max() < 1e-5 and moved[2, :20].min() > 1 - 1e-5  # the sky read from below stays blue


def test_loop_closes_without_losing_contrast():
    photo = texture(32, 48)
    flow = flow_for(photo, translation(1 / 16))  # whole pixels (16 px per unit): no resampling blur in the check
    recipe, _ = frame_recipe(np.array([0.0, 4.0, 8.0]), 8, loop=True)
    first, middle, after_last = flow.advect(recipe, slice(0, 3))
    assert torch.allclose(after_last, first, atol=1e-6) and torch.allclose(first, photo, atol=1e-6)
    assert middle.std() > 0.8 * photo.std()  # a plain 50/50 blend of two textures would leave ~0.71


def test_fill_from_region_keeps_the_region_and_fills_smoothly():
    image = texture(32, 32)
    weight = torch.zeros(32, 32)
    weight[:10] = 1
    image[:, :10] = torch.tensor([0.2, 0.4, 0.8])[:, None, None]
    filled = fill_from_region(image, weight)
    assert torch.equal(filled[:, :10], image[:, :10])
    assert torch.allclose(filled[:, 10:], torch.tensor([0.2, 0.4, 0.8])[:, None, None].expand(3, 22, 32), atol=1e-5)
    assert torch.allclose(
        fill_from_region(image, torch.zeros(32, 32)), image.mean((1, 2), keepdim=True).expand_as(image)
    )


def test_colour_transform_identity_and_a_known_change():
    source = texture(16, 16)[None] * 2 - 1
    same = fit_colour_transform(source, source)
    assert torch.allclose(same.gain, torch.ones_like(same.gain), atol=1e-4)
    assert same.offset.abs().max() < 1e-4
    # Night-like: darker and bluer (less light, more of it blue), the same everywhere.
    gain = torch.tensor([0.3, 0.35, 0.5])[:, None, None]
    target01 = ((source + 1) / 2) * gain
    fitted = fit_colour_transform(source, target01 * 2 - 1)
    assert torch.allclose(fitted.apply((source + 1) / 2), target01, atol=0.02)
    # Haze: less contrast and light added, pulling toward a bright airlight; here black may lighten.
    hazy = fit_colour_transform(source, ((source + 1) / 2 * 0.8 + 0.15) * 2 - 1)
    assert torch.allclose(hazy.apply((source + 1) / 2), (source + 1) / 2 * 0.8 + 0.15, atol=0.02)


def test_colour_transform_never_lifts_black_where_the_light_falls():
    """A generator's reconstruction is rarely as dark as a photo's near-black hills: a night that darkens its grey
    land fits as a low gain plus an offset, which would turn the photo's black into a dark grey."""
    source = (texture(16, 16) * 0.4 + 0.3)[None] * 2 - 1  # the generator's land: mid greys
    night = ((source + 1) / 2) * 0.25 + 0.08  # darker overall, with a lift of its own darkest greys
    fitted = fit_colour_transform(source, night * 2 - 1)
    black = torch.zeros(1, 3, 16, 16)
    assert fitted.apply(black).max() <= 1e-4  # the photo's black stays black (0.065 without the rule)
    # The window means still map as the generator's did: the land gets as dark on average.
    assert fitted.apply((source + 1) / 2).mean() == pytest.approx(float(night.mean()), abs=0.01)


def test_colour_transform_dims_the_shadows_of_flat_land_with_it_where_the_light_falls():
    """A flat window cannot tell a gain from an offset. Sky that keeps most of its light over land that loses half
    gives the crop a steep gain (1.3); leaned on in the land, with the offset making up the mean, it took a shadow at
    half the land's light to black. The land's own ratio of light dims the shadow with it."""
    detail = texture(32, 32) * 0.004  # flat windows: the prior decides
    source = torch.cat([torch.full((3, 16, 32), 0.8), torch.full((3, 16, 32), 0.4)], dim=1) + detail
    target = torch.cat([source[:, :16] * 0.9, source[:, 16:] * 0.5], dim=1)
    fitted = fit_colour_transform(source[None] * 2 - 1, target[None] * 2 - 1)
    shadow = torch.full((1, 3, 32, 32), 0.2)  # the photo's shadow in the land, at half its light
    assert fitted.apply(shadow)[0, :, 26:].mean() == pytest.approx(0.1, abs=0.02)  # 0.0 with the crop's gain


def night_over_black_hills(land_at_night: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A bright sky over near-black land (32 px, top half sky) and a night of it: the sky falls to a quarter, the
    land goes to a teal grey of ``land_at_night``."""
    detail = texture(32, 32) * 0.02
    source = torch.cat([torch.full((3, 16, 32), 0.8), torch.full((3, 16, 32), 0.03)], dim=1) + detail
    target = source.clone()
    target[:, :16] *= 0.25
    target[:, 16:] = torch.tensor([0.3, 0.9, 0.8])[:, None, None] * land_at_night + detail[:, 16:]
    return source[None] * 2 - 1, target[None] * 2 - 1


def luma(images: torch.Tensor) -> torch.Tensor:
    return (images * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(dim=-3)


def test_colour_transform_lightens_nothing_where_the_light_falls():
    """A night whose generator paints black hills a teal grey must not lift the photo's black land: where the light
    falls over the picture, no neighbourhood gets lighter, while the sky still falls and the land keeps the new hue.
    The land dims as the sky that lights it does."""
    source, night = night_over_black_hills(land_at_night=0.12)
    fitted = fit_colour_transform(source, night)
    photo = (source + 1) / 2
    relit = fitted.apply(photo)[0]
    land_before, land_after = luma(photo[0, :, 24:]).mean(), luma(relit[:, 24:]).mean()
    # The sky keeps a quarter of its light, and so does the land: without the rule 0.03 -> 0.10, with the land held
    # to its own luma 0.03 -> 0.03 (a deep night that left black hills as they were by day).
    assert land_after == pytest.approx(0.25 * land_before, abs=0.003)
    assert luma(relit[:, :8]).mean() < 0.3 * luma(photo[0, :, :8]).mean()  # the sky still falls
    assert relit[1, 24:].mean() > relit[0, 24:].mean()  # green over red: the night's teal hue is carried
    # Nor does any channel lift the photo's black: the teal comes by scaling, not by an added grey.
    assert fitted.apply(torch.zeros_like(photo))[0, :, 24:].max() <= 1e-4  # 0.045 in green without it
    # The same brightening land under a sky that keeps its light is the generator's new light, and is carried.
    day = night.clone()
    day[:, :, :16] = source[:, :, :16]
    brightened = fit_colour_transform(source, day).apply(photo)[0]
    assert luma(brightened[:, 24:]).mean() > land_before + 0.05


def test_colour_transform_fades_the_no_lightening_rule_in_as_the_light_falls():
    """A day-to-night video passes through every amount of darkening: the land must not jump from lifted to black
    between two frames whose light differs a little (with an on/off rule at a 0.05 drop it jumped by 0.05)."""
    source, night = night_over_black_hills(land_at_night=0.12)
    photo = (source + 1) / 2

    def land_at(sky_factor: float) -> float:
        target = night.clone()
        target[:, :, :16] = (photo[:, :, :16] * sky_factor) * 2 - 1
        return float(luma(fit_colour_transform(source, target).apply(photo)[0, :, 24:]).mean())

    factors = (0.9, 0.86, 0.82, 0.8, 0.78, 0.74)  # light falls by 0.01 ... 0.07
    lands = [land_at(factor) for factor in factors]
    assert max(abs(a - b) for a, b in zip(lands, lands[1:])) < 0.025  # about 0.01 per 0.02 of the sky's light
    # From nearly the generator's lift to the photo's land dimmed as the sky is.
    land_before = float(luma(photo[0, :, 24:]).mean())
    assert lands[0] > 1.5 * land_before and lands[-1] == pytest.approx(factors[-1] * land_before, abs=0.002)


def test_colour_transform_has_no_seam_beyond_the_crop():
    source = texture(16, 16)[None] * 2 - 1
    left_dark = (source + 1) / 2 * torch.linspace(0.4, 1.0, 16)  # light changes across the crop
    transform = fit_colour_transform(source, left_dark * 2 - 1)
    crop = CropFrame(64.0, 0.0, 64.0)  # a 3:1 canvas, the crop in the middle third
    canvas = transform.on_canvas(crop, (192, 64), smoothing_px=4.0)
    flat = canvas.apply(torch.full((1, 3, 64, 192), 0.5))[0]
    column_steps = (flat[:, :, 1:] - flat[:, :, :-1]).abs().mean(dim=(0, 1))
    assert torch.isfinite(flat).all()
    # Every column-to-column step, at the crop's edges included, is as small as the steps inside the crop.
    assert column_steps.max() <= 1.5 * column_steps[70:120].max() + 1e-3


@pytest.mark.parametrize("size", [(96, 40), (40, 80)])
def test_pipeline_hybrid_moves_the_whole_sky_and_keeps_land(pipe, size):  # noqa: F811 - fixture
    width, height = size
    photo = make_photo(width, height)
    mask = np.zeros((height, width), dtype=np.float32)
    mask[: height // 2] = 1
    out = call(pipe, photo=photo, mask=mask, num_frames=6, motion="man1", speed=4.0, output_type="np")
    frames = np.round(out.frames * 255).astype(np.int16)
    alpha = np.asarray(out.mask)
    assert (frames[0] == np.asarray(photo)).all()  # frame 0 is the photo
    static = alpha == 0
    assert (frames[:, static] == np.asarray(photo)[static]).all()  # land: the photo's bytes in every frame
    side = min(width, height)
    outside = np.zeros_like(static)
    if width > height:
        outside[:, : (width - side) // 2] = True
    else:
        outside[: (height - side) // 2] = True
    moving_outside = (alpha == 255) & outside
    assert moving_outside.any()
    assert np.abs(frames[-1][moving_outside] - frames[0][moving_outside]).mean() > 1  # sky beyond the crop moves


@pytest.mark.parametrize("rows, columns", [((10, 14), (50, 54)), ((5, 8), (0, 96))])
def test_a_mask_thinner_than_the_feathering_animates_without_moving_land(pipe, rows, columns):  # noqa: F811
    """A speck or a thin strip (a stroke in the app, a sliver of sky between trunks) erodes away under the soft edge:
    the video keeps the photo's land, it does not crash."""
    photo = make_photo(96, 40)
    mask = np.zeros((40, 96), dtype=np.float32)
    mask[slice(*rows), slice(*columns)] = 1
    out = call(pipe, photo=photo, mask=mask, num_frames=3, output_type="np")
    frames = np.round(out.frames * 255).astype(np.int16)
    static = np.asarray(out.mask) == 0
    assert len(frames) == 3 and static.any()
    assert (frames[:, static] == np.asarray(photo)[static]).all()


def test_pipeline_generator_source_keeps_sky_outside_the_crop_still(pipe):  # noqa: F811 - fixture
    photo = make_photo(96, 40)
    mask = np.zeros((40, 96), dtype=np.float32)
    mask[:20] = 1
    out = call(pipe, photo=photo, mask=mask, num_frames=4, motion="man1", motion_source="generator", output_type="np")
    frames = np.round(out.frames * 255).astype(np.int16)
    assert (frames[:, :, :20] == np.asarray(photo)[:, :20]).all()  # left of the crop box, sky included
    with pytest.raises(ValueError, match="motion source"):
        call(pipe, photo=photo, mask=mask, motion_source="photo")
