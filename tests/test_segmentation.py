"""Sky/water segmentation: real transformers loading of a tiny SegFormer, class choice by name, the official
movable rule, offline errors, mask helpers, the offline region segmenter on synthetic scenes with known masks, the
pipeline's fallback and warnings, and the hand-drawn labels with their scores."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from deeplandscape_hf.animation.segmentation import (
    SegmentationResult,
    SegmenterUnavailableError,
    SkySegmenter,
    erode,
    feather,
    heuristic_segment,
    heuristic_sky_mask,
    horizon_from_sky_mask,
    region_segment,
)
from deeplandscape_hf.animation.sky_region import (
    _below_skyline_in_haze,
    _first_land_band,
    _hsv,
    _shaded_earth,
    _without_towers_of_sky,
)
from deeplandscape_hf.animation.water_region import PROFILE_BAND, _followed_down, water_coloured
from deeplandscape_hf.evaluation.mask_labels import (
    PHOTO_VARIANTS,
    LabelMasks,
    MaskScores,
    crop_labelled,
    label_files,
    photo_variant,
    render_labels,
    score_movable_mask,
)

# A few ADE20K names, out of ADE order, one in CSAIL "synonym, synonym" style.
ID2LABEL = {0: "wall", 1: "building", 2: "sky", 3: "tree", 4: "water", 5: "sea, ocean", 6: "mountain"}
SKY, WATER, SEA, BUILDING = 2, 4, 5, 1


@pytest.fixture(scope="module")
def tiny_segformer_dir(tmp_path_factory):
    """A randomly initialised, very small SegFormer saved like a hub checkpoint (config + weights + processor)."""
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    config = SegformerConfig(
        num_encoder_blocks=2,
        depths=[1, 1],
        sr_ratios=[2, 1],
        hidden_sizes=[8, 16],
        patch_sizes=[7, 3],
        strides=[4, 2],
        num_attention_heads=[1, 1],
        mlp_ratios=[2, 2],
        decoder_hidden_size=16,
        id2label=ID2LABEL,
        label2id={name: index for index, name in ID2LABEL.items()},
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_segformer")
    SegformerForSemanticSegmentation(config).save_pretrained(folder)
    SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def segmenter(tiny_segformer_dir) -> SkySegmenter:
    return SkySegmenter(tiny_segformer_dir)


def _designed_logits(height: int = 8, width: int = 6) -> torch.Tensor:
    """Class scores (C, h, w): sky rows 0-2, building rows 3-4, water rows 5-7; row 4, column 0 is a tie-breaker."""
    logits = torch.zeros(len(ID2LABEL), height, width)
    logits[SKY, :3] = 5.0
    logits[BUILDING, 3:5] = 5.0
    logits[WATER, 5:] = 5.0
    # Sky and water each beat building alone only in sum: the official max-vs-max rule says "not movable".
    logits[:, 4, 0] = 0.0
    logits[SKY, 4, 0], logits[WATER, 4, 0], logits[BUILDING, 4, 0] = 1.0, 1.0, 1.5
    return logits


def test_loads_through_transformers_and_picks_classes_by_name(tiny_segformer_dir, segmenter):
    assert type(segmenter.model).__name__ == "SegformerForSemanticSegmentation"
    assert segmenter.id2label == ID2LABEL
    assert segmenter.movable_class_ids == (SKY, WATER)
    assert segmenter.sky_class_ids == (SKY,)
    assert SkySegmenter(tiny_segformer_dir, movable_classes=("Sky", "water", "ocean")).movable_class_ids == (2, 4, 5)
    with pytest.raises(ValueError, match="no class named 'lava'.*ADE20K"):
        SkySegmenter(tiny_segformer_dir, movable_classes=("sky", "lava"))


def test_segment_returns_masks_at_the_image_size(segmenter):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    result = segmenter.segment(image)
    assert isinstance(result, SegmentationResult)
    for mask in (result.dynamic_mask, result.sky_mask, result.water_mask):
        assert mask.shape == (40, 50) and mask.dtype == np.float32
        assert mask.min() >= 0 and mask.max() <= 1
    assert result.labels.shape == (40, 50) and set(np.unique(result.labels)) <= set(ID2LABEL)
    assert 0.0 <= result.horizon <= 1.0
    assert (result.sky_mask <= result.dynamic_mask).all()  # sky is movable


def test_masks_match_the_argmax_exactly_at_the_model_resolution(segmenter, monkeypatch):
    """With logits already at the image size nothing is interpolated: movable == argmax in {sky, water}."""
    logits = torch.randn(len(ID2LABEL), 40, 50, generator=torch.Generator().manual_seed(1))
    monkeypatch.setattr(segmenter, "class_logits", lambda image: logits)
    result = segmenter.segment(Image.new("RGB", (50, 40)))
    argmax = logits.argmax(0).numpy()
    assert np.array_equal(result.labels, argmax)
    assert np.array_equal(result.dynamic_mask, np.isin(argmax, [SKY, WATER]).astype(np.float32))
    assert np.array_equal(result.sky_mask, (argmax == SKY).astype(np.float32))


def test_official_rule_max_over_movable_beats_max_over_the_rest(segmenter, monkeypatch):
    monkeypatch.setattr(segmenter, "class_logits", lambda image: _designed_logits())
    result = segmenter.segment(Image.new("RGB", (60, 80)), horizon_offset_px=0)  # 10x upsampling
    column = result.dynamic_mask[:, 30]
    assert column[:25].min() == 1 and column[35:45].max() == 0 and column[55:].min() == 1
    assert result.sky_mask[:25, 30].min() == 1 and result.sky_mask[55:, 30].max() == 0
    assert result.water_mask[55:, 30].min() == 1
    assert result.dynamic_mask[40:45, :5].max() == 0  # sky + water outvote building only in sum: not movable
    assert result.horizon == pytest.approx(horizon_from_sky_mask(result.sky_mask, 0))
    assert 0.3 <= result.horizon <= 0.4  # sky ends about 3/8 of the way down


def test_missing_model_offline_tells_the_user_to_supply_a_mask(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SegmenterUnavailableError) as info:
        SkySegmenter("deeplandscape-test/no-such-segmenter")
    message = str(info.value)
    assert "'deeplandscape-test/no-such-segmenter'" in message
    assert "--mask" in message and "heuristic" in message
    assert "hf download deeplandscape-test/no-such-segmenter" in message
    assert "hf download deeplandscape-test/no-such-segmenter" in info.value.cause  # what a fallback warning shows


def test_a_local_folder_that_is_no_model_is_not_sent_to_the_hub(tmp_path):
    """A folder is the user's own: the fix is in it, not a download, so the cause does not suggest one."""
    with pytest.raises(SegmenterUnavailableError) as info:
        SkySegmenter(str(tmp_path))
    assert info.value.cause.startswith(f"'{tmp_path}': ") and "hf download" not in info.value.cause


def test_unreachable_hub_fails_fast_without_retrying(monkeypatch):
    """No network and nothing cached: one quick probe, then the error (not minutes of download retries)."""
    import transformers

    from deeplandscape_hf.animation import segmentation

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    probes, online_loads = [], []
    monkeypatch.setattr(segmentation, "hub_reachable", lambda: probes.append(1) or False)

    def from_pretrained(model_id, revision=None, local_files_only=False):
        if not local_files_only:
            online_loads.append(model_id)
        raise OSError("not in the cache")

    monkeypatch.setattr(transformers.AutoImageProcessor, "from_pretrained", from_pretrained)
    with pytest.raises(SegmenterUnavailableError, match="cannot be reached"):
        SkySegmenter("deeplandscape-test/no-such-segmenter")
    assert probes == [1] and online_loads == []


def test_hub_probe_reports_a_closed_port(monkeypatch):
    import socket

    from deeplandscape_hf.animation.segmentation import hub_reachable

    with socket.socket() as server:  # bound but never listening: connections are refused at once
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", f"http://127.0.0.1:{port}")
        assert hub_reachable(timeout=1.0) is False
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert hub_reachable(timeout=1.0) is True


def test_horizon_rule():
    sky = np.zeros((100, 30), np.float32)
    assert horizon_from_sky_mask(sky) == 0.0
    sky[:10] = 1.0
    assert horizon_from_sky_mask(sky) == pytest.approx((9 + 10) / 100)
    sky[:95] = 1.0
    assert horizon_from_sky_mask(sky) == 1.0  # clipped


def test_erode_and_feather():
    mask = np.zeros((21, 21), np.float32)
    mask[5:16, 5:16] = 1.0  # 11 x 11 block
    eroded = erode(mask, 2)
    assert eroded.sum() == 7 * 7 and eroded[8:13, 8:13].min() == 1
    assert erode(mask, 0).sum() == mask.sum()
    top_band = np.zeros((20, 10), np.float32)
    top_band[:6] = 1.0  # sky touching the top edge: only its lower edge (against land) shrinks
    assert erode(top_band, 2)[:4].min() == 1 and erode(top_band, 2)[4:].max() == 0
    soft = feather(mask, 4)
    assert soft.dtype == np.float32 and soft.min() >= 0 and soft.max() <= 1
    assert soft[10, 10] > 0.95 and soft[0, 0] < 0.05 and 0.2 < soft[10, 5] < 0.8  # ramp across the edge
    assert abs(soft.sum() - mask.sum()) < 0.05 * mask.sum()
    tensor = torch.from_numpy(mask)
    assert isinstance(erode(tensor, 2), torch.Tensor) and torch.equal(erode(tensor, 2), torch.from_numpy(eroded))
    assert isinstance(feather(tensor, 4), torch.Tensor)


# ----------------------------------------------------------------------------------------------------------------------
# The offline region segmenter on synthetic scenes with known masks


def _iou(found: np.ndarray, truth: np.ndarray) -> float:
    found = found >= 0.5
    return float((found & truth).sum() / (found | truth).sum())


def _texture(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Foliage-like texture (H, W, 3) around 0: smoothed noise of unit standard deviation."""
    noise = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=(*shape, 3)), (1.5, 1.5, 0))
    return noise / noise.std()


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def _clouds_over_hills(height: int = 180, width: int = 320) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A blue gradient sky with a white, a pale and a dark grey cloud (soft-edged), over rolling textured hills.
    Returns (image, true sky, true clouds)."""
    rows, cols = np.mgrid[:height, :width]
    ridge = (0.55 * height + 0.06 * height * np.sin(cols[0] / width * 3 * np.pi)).astype(int)
    sky = rows < ridge[None, :]
    t = (rows / height)[..., None]
    image = np.concatenate([0.30 + 0.35 * t, 0.50 + 0.30 * t, 0.90 + 0.05 * t], axis=-1)
    clouds = np.zeros((height, width), bool)
    for centre_row, centre_col, radius, grey in (
        (0.12, 0.2, 0.08, 0.95),
        (0.25, 0.6, 0.1, 0.85),
        (0.35, 0.85, 0.07, 0.4),
    ):
        distance = ((rows - centre_row * height) ** 2 + ((cols - centre_col * width) / 1.8) ** 2) / (
            radius * height
        ) ** 2
        alpha = np.clip(1.5 - distance, 0.0, 1.0)[..., None]
        image = image * (1 - alpha) + grey * alpha
        clouds |= alpha[..., 0] > 0.5
    ground = np.array([0.25, 0.35, 0.12]) + 0.12 * _texture((height, width), seed=1)
    return _to_uint8(np.where(sky[..., None], image, ground)), sky, clouds & sky


def _lake(height: int = 180, width: int = 320, shore: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sky down to 45 % of the height, a textured shore, then the sky mirrored and darkened: (image, sky, water)."""
    horizon = int(0.45 * height)
    t = (np.arange(height) / height)[:, None, None]
    sky_rows = np.concatenate([0.35 + 0.4 * t, 0.55 + 0.3 * t, 0.92 + 0.03 * t], axis=-1) * np.ones((1, width, 1))
    image = sky_rows.copy()
    image[horizon : horizon + shore] = np.array([0.15, 0.25, 0.1]) + 0.08 * _texture((shore, width), seed=2)
    for row in range(horizon + shore, height):
        image[row] = 0.8 * sky_rows[max(horizon - 1 - (row - horizon - shore), 0)]
    sky, water = np.zeros((height, width), bool), np.zeros((height, width), bool)
    sky[:horizon], water[horizon + shore :] = True, True
    return _to_uint8(image), sky, water


def _fog(brightness: float, height: int = 180, width: int = 320) -> np.ndarray:
    """Fog over hills that are barely darker than it: what is sky cannot be told."""
    rows, cols = np.mgrid[:height, :width]
    hills = rows >= 0.5 * height + 0.08 * height * np.sin(cols / width * 5)
    image = np.full((height, width, 3), brightness) - 0.012 * hills[..., None]
    image += 0.004 * np.random.default_rng(3).normal(size=image.shape)
    return _to_uint8(image)


def test_region_segmenter_takes_clouds_of_any_grey_and_no_land():
    image, sky, clouds = _clouds_over_hills()
    result = heuristic_segment(image)  # the default method is the region segmenter
    land = ~sky
    assert _iou(result.sky_mask, sky) >= 0.95
    assert (result.dynamic_mask[clouds] >= 0.5).mean() >= 0.98  # white, pale and dark grey clouds all move
    assert (result.dynamic_mask[land] >= 0.5).mean() <= 0.002
    assert result.uncertainty is None and result.confidence.shape == sky.shape
    assert result.label_names == {0: "other", 1: "sky", 2: "water"}
    # The older colour rule, kept for comparison, loses most of the dark grey cloud.
    colour = heuristic_segment(image, method="colour")
    assert (colour.dynamic_mask[clouds] >= 0.5).mean() < 0.9


@pytest.mark.parametrize("frame, sides", [(0, "top and bottom"), (255, "all round"), (20, "all round")])
def test_a_frame_around_the_photo_stays_still_and_the_photo_inside_is_found_as_without_it(tmp_path, frame, sides):
    """Letterbox bars or a mat, saved as a JPEG (ringing at the frame's edge). Before, black bars read as a night sky
    (nothing moved, with a warning about a dark sky) and a white mat as sky that moved."""
    image, sky, clouds = _clouds_over_hills()
    bar = 18
    across = bar if sides == "all round" else 0
    framed = np.full((sky.shape[0] + 2 * bar, sky.shape[1] + 2 * across, 3), frame, np.uint8)
    framed[bar:-bar, across : framed.shape[1] - across] = image
    Image.fromarray(framed).save(tmp_path / "framed.jpg", quality=75)
    result = region_segment(Image.open(tmp_path / "framed.jpg"))
    inside = (slice(bar, -bar), slice(across, framed.shape[1] - across))
    assert result.uncertainty is None
    assert _iou(result.sky_mask[inside], sky) >= 0.93  # 0.956 unframed; the photo's outermost lines go with the frame
    assert (result.dynamic_mask[inside][clouds] >= 0.5).mean() >= 0.98
    outside = np.ones(framed.shape[:2], bool)
    outside[inside] = False
    assert (result.dynamic_mask[outside] >= 0.5).mean() == 0


def test_region_segmenter_finds_a_lake_that_mirrors_the_sky():
    image, sky, water = _lake()
    result = region_segment(image)
    assert _iou(result.sky_mask, sky) >= 0.95
    assert _iou(result.water_mask, water) >= 0.9
    shore = ~(sky | water)
    assert (result.dynamic_mask[shore] >= 0.5).mean() <= 0.02  # the shore stays still
    assert 0.4 <= result.horizon <= 0.55


def test_a_reed_bed_in_a_lake_stays_still_and_the_water_around_it_moves():
    """Reeds standing in a lake mirror the dark shore as well as anything does, but they are land: a crowd of thin
    dark upright strokes in the water stays still, and so does the sparse fringe where the bed thins out. A few
    strokes (a post, a rippled trunk) do not make a bed. The scene is drawn at the segmenter's working size (768 px),
    where reeds in a photo are a pixel or two thin."""
    scale = 2.4  # the layout of the 320 x 180 scenes, at 768 x 432
    image, sky, water = _lake(height=432, width=768, shore=29)
    image = image.astype(np.float32) / 255

    def at(*values: float) -> list[int]:
        return [round(value * scale) for value in values]

    rng = np.random.default_rng(4)
    bed = np.zeros(sky.shape, bool)
    top, bottom, left, right = at(120, 150, 150, 300)
    bed[top:bottom, left:right] = True
    for column in rng.choice(np.arange(left, right), size=round(45 * scale), replace=False):  # a pixel thin
        image[int(rng.integers(top, top + 8 * scale)) : bottom, column] *= 0.45
    fringe_left = at(125)[0]
    bed[top:bottom, fringe_left:left] = True
    for column in range(fringe_left + 6, left, 20):  # a reed every 20 px: too sparse for a bed of its own
        image[top + 6 : bottom, column] *= 0.45
    for column in at(40, 70, 95):  # three posts
        image[at(118)[0] : bottom, column : column + 3] *= 0.45
    result = region_segment(_to_uint8(image))
    inner_top, inner_bottom, inner_left, inner_right = at(124, 146, 156, 294)
    assert (result.dynamic_mask[inner_top:inner_bottom, inner_left:inner_right] >= 0.5).mean() <= 0.1
    fringe = (slice(inner_top, inner_bottom), slice(fringe_left + 4, left))
    assert (result.dynamic_mask[fringe] >= 0.5).mean() <= 0.1
    open_water = water & ~bed
    open_water[:, slice(*at(30, 110))] = False
    assert (result.water_mask[open_water] >= 0.5).mean() >= 0.9


def test_grass_stalks_in_front_of_a_sea_stay_still_and_the_sea_between_them_moves():
    """Out-of-focus golden stalks leaning across a lake that mirrors a blue sky (dune grass before the sea): water
    cannot have their colour, so they stay whole while the water moves. Left in the water, each stalk slid with it
    and broke where it left it. Drawn at the segmenter's working size, with soft edges."""
    height, width = 432, 768
    image, sky, water = _lake(height=height, width=width, shore=29)
    image = image.astype(np.float32) / 255
    rows, cols = np.mgrid[:height, :width]
    stalks = np.zeros((height, width), np.float32)
    for foot, lean in ((90, 0.35), (230, 0.5), (380, 0.25), (520, 0.45), (650, 0.3)):
        # from the bottom edge up to a little under the shore, leaning right by ``lean`` columns per row
        across = np.abs(cols - (foot + lean * (height - 1 - rows))) / np.sqrt(1 + lean**2)
        stalks = np.maximum(stalks, np.clip(3.5 - across, 0, 1) * (rows >= 0.6 * height))
    stalks = ndimage.gaussian_filter(stalks, 1.0)
    image = image * (1 - stalks[..., None]) + np.array([0.85, 0.62, 0.28]) * stalks[..., None]
    # A streak of light reflected down the water, as thin and upright as a stalk but in the sky's colours, is water.
    streak = water & (np.abs(cols - 460) <= 3)
    image[streak] = np.clip(image[streak] + 0.2, 0, 1)
    result = region_segment(_to_uint8(image))
    moving = result.dynamic_mask >= 0.5
    cores = (stalks >= 0.5) & water
    assert moving[cores].mean() <= 0.02  # 0.62 before: the stalks moved with the water
    open_water = water & ~ndimage.binary_dilation(stalks > 0.02, iterations=4)
    assert (result.water_mask[open_water] >= 0.5).mean() >= 0.9
    assert (result.water_mask[streak] >= 0.5).mean() >= 0.9


def test_region_segmenter_cuts_cables_and_a_kite_out_of_the_sky():
    height, width = 180, 320
    rows, cols = np.mgrid[:height, :width]
    t = (rows / height)[..., None]
    image = np.concatenate([0.30 + 0.35 * t, 0.50 + 0.30 * t, 0.90 + 0.05 * t], axis=-1)
    cable = np.abs(rows - (0.1 * height + 0.35 * cols)) < 2.5  # a dark cable across the whole sky
    kite = (np.abs(rows - 40) < 8) & (np.abs(cols - 250) < 8)
    image[cable] = 0.1
    image[kite] = (0.9, 0.1, 0.1)
    image[rows >= 0.8 * height] = (
        np.array([0.3, 0.35, 0.15]) + 0.1 * _texture((height, width), seed=4)[rows >= 0.8 * height]
    )
    result = region_segment(_to_uint8(image))
    moving = result.dynamic_mask >= 0.5
    assert moving[cable].mean() <= 0.02 and moving[kite].mean() == 0
    open_sky = (rows < 0.75 * height) & ~ndimage.binary_dilation(cable | kite, iterations=4)
    assert moving[open_sky].mean() >= 0.97  # on both sides of the cable and around the kite


def test_region_segmenter_keeps_a_crisp_cumulus_whole_and_a_kite_with_a_sky_blue_panel_out():
    """Bright puffs with sharp edges cut the blue between them into thin pieces, as cables are; those pieces are
    cloud, and must move with it. A kite's sky-blue panel is part of the kite."""
    height, width = 240, 400
    rows, cols = np.mgrid[:height, :width]
    image = _sky_rows(height, width).copy()
    cumulus = ((rows - 70) / 45) ** 2 + ((cols - 120) / 90) ** 2 <= 1
    puffs = ndimage.gaussian_filter(np.random.default_rng(6).normal(size=(height, width)), 3) > -0.02
    image[cumulus & puffs] = 0.95  # white puffs, sharp-edged; the sky's blue shows between them
    kite = (np.abs(rows - 50) < 10) & (np.abs(cols - 320) < 10)
    image[kite] = (0.9, 0.15, 0.1)
    panel = (np.abs(rows - 50) < 3) & (np.abs(cols - 320) < 6)
    image[panel] = image[20, 320]  # the blue of the sky beside it
    land = rows >= 0.8 * height
    image[land] = np.array([0.3, 0.35, 0.15]) + 0.1 * _texture((height, width), seed=4)[land]
    moving = region_segment(_to_uint8(image)).dynamic_mask >= 0.5
    inside = ndimage.binary_erosion(cumulus, iterations=3)
    assert moving[inside].mean() >= 0.97  # puffs and the blue between them
    assert moving[kite].mean() == 0 and moving[land].mean() == 0


def test_a_crisp_cumulus_resting_on_a_peak_drifts_with_its_rim_and_a_lit_rod_stays():
    """Where a crisp cloud touches a ridge, the chain of sharp edges round the cloud runs into the land's outline,
    and every chain touching the land went with it: the cloud's rim stayed still as its inside drifted (a white ring
    left behind). A pale rod rising from the land, lit brighter than the sky, must still stay."""
    height, width = 240, 400
    rows, cols = np.mgrid[:height, :width]
    image = _sky_rows(height, width).copy()
    ridge = rows >= 150 - 60 * np.clip(1 - np.abs(cols - 130) / 70, 0, 1)  # a peak at column 130
    cumulus = ((rows - 70) / 28) ** 2 + ((cols - 170) / 100) ** 2 <= 1  # resting on the peak
    puffs = ndimage.gaussian_filter(np.random.default_rng(6).normal(size=(height, width)), 3) > -0.2
    cloud = cumulus & puffs & ~ridge
    image[cloud] = 0.95
    image[ridge] = np.array([0.45, 0.43, 0.4]) + 0.12 * _texture((height, width), seed=3)[ridge]
    rod = (np.abs(rows - (150 - 0.55 * (cols - 290))) < 2.5) & (cols > 290) & ~ridge
    image[rod] = 0.8
    moving = region_segment(_to_uint8(image)).dynamic_mask >= 0.5
    rim = cumulus & ~ndimage.binary_erosion(cumulus, iterations=6) & ~ndimage.binary_dilation(ridge, iterations=6)
    assert moving[rim].mean() >= 0.95  # 0.79 before
    assert moving[cloud].mean() >= 0.97
    assert not moving[ridge].any() and moving[rod].mean() <= 0.02


def _sky_rows(height: int, width: int) -> np.ndarray:
    t = (np.arange(height) / height)[:, None, None]
    return np.concatenate([0.35 + 0.4 * t, 0.55 + 0.3 * t, 0.92 + 0.03 * t], axis=-1) * np.ones((1, width, 1))


def test_a_dark_cloud_floating_in_a_sunset_sky_moves_with_the_glow_under_it():
    """A cloud darker than any clear sky in the top rows (the dark underside of a sunset cloud) is out of the cloud
    prior. The border runs down each column from the top, so it stopped on the cloud: the cloud and the glow under it
    stayed still while the sky beside them moved (sky IoU 0.62). The clear sky wraps round the cloud, above and
    below it, which land standing on the ground never has."""
    height, width, horizon = 180, 320, 120
    t = (np.arange(height) / horizon)[:, None, None]
    image = np.concatenate([0.35 + 0.55 * t, 0.5 + 0.25 * t, 0.85 - 0.4 * t], axis=-1) * np.ones((1, width, 1))
    rows, columns = np.mgrid[:height, :width]
    cloud = ((rows - 55) / 18) ** 2 + ((columns - 150) / 90) ** 2 <= 1
    image[cloud] = np.array([0.25, 0.2, 0.22]) + 0.03 * _texture((height, width), seed=1)[cloud]
    image[horizon:] = np.array([0.2, 0.25, 0.12]) + 0.08 * _texture((height - horizon, width), seed=2)
    result = region_segment(_to_uint8(image))
    moving = result.dynamic_mask >= 0.5
    glow_under_cloud = (rows > 75) & (rows < 115) & (columns > 80) & (columns < 220)
    assert moving[cloud].mean() >= 0.8  # 0.0 before
    assert moving[glow_under_cloud].mean() >= 0.98  # 0.0 before
    assert not moving[horizon:].any()
    assert _iou(result.sky_mask, rows < horizon) >= 0.93


def test_sea_under_a_straight_horizon_is_water_not_sky():
    """Sky and sea share their hues and nothing but a straight line parts them: the sea must still be water (its
    motion mirrors the sky's), and the beach in front must stay still."""
    height, width, horizon, shore = 180, 320, 72, 126
    image = _sky_rows(height, width)
    image[horizon:shore] = 0.75 * image[horizon - 1] * np.array([0.8, 0.95, 1.0])  # calm sea, a deeper blue
    beach = np.array([0.75, 0.65, 0.45]) + 0.08 * _texture((height - shore, width), seed=5)
    image[shore:] = beach
    result = region_segment(_to_uint8(image))
    sky, water = np.zeros((height, width), bool), np.zeros((height, width), bool)
    sky[:horizon], water[horizon:shore] = True, True
    assert _iou(result.sky_mask, sky) >= 0.95
    assert _iou(result.water_mask, water) >= 0.9
    assert (result.dynamic_mask[shore + 3 :] >= 0.5).mean() == 0
    assert abs(result.horizon - horizon / height) <= 0.1  # the mirrored motion starts at the sea, not the beach


def _snow_or_sand(colour: tuple[float, float, float], height: int, width: int, seed: int) -> np.ndarray:
    """A smooth bright ground, a little darker towards the bottom: a snowfield or a beach."""
    shading = 0.1 * (np.arange(height) / height)[:, None, None]
    return np.array(colour) + 0.02 * _texture((height, width), seed) - shading


@pytest.mark.parametrize("name, colour", [("snow", (0.92, 0.94, 0.97)), ("sand", (0.85, 0.78, 0.62))])
def test_a_bright_plain_under_a_straight_horizon_is_land_not_sea(name, colour):
    """A snowfield or a beach meets the sky on a ruler-straight line, as a sea would. But it is brighter than the sky
    there (water mirrors the sky, darkened) and not in the sky's colours, so it is land: the old code moved all of it
    (as sea, or as sky once the sea was ruled out)."""
    height, width, horizon = 180, 320, 80
    image = _sky_rows(height, width)
    image[horizon:] = _snow_or_sand(colour, height, width, seed=2)[horizon:]
    result = region_segment(_to_uint8(image))
    assert (result.sky_mask[: horizon - 3] >= 0.5).mean() >= 0.99
    assert (result.dynamic_mask[horizon + 3 :] >= 0.5).mean() == 0


def test_the_beach_in_front_of_the_sea_stays_still():
    """Sky, a sea under a straight horizon, and a strip of sand in front. The sky search takes the cream sand as a
    sunlit cloud and runs on down to the bottom; the sea below the horizon is water, but the sand is not in the
    colours of the sky above the horizon, so it is land (the old code moved all of it as sea)."""
    height, width, horizon, beach = 180, 320, 70, 160
    image = _sky_rows(height, width)
    image[horizon:] = 0.7 * image[horizon - 1] + 0.01 * _texture((height - horizon, width), seed=3)
    image[beach:] = _snow_or_sand((0.85, 0.78, 0.62), height, width, seed=4)[beach:]
    result = region_segment(_to_uint8(image))
    assert (result.water_mask[horizon + 3 : beach - 3] >= 0.5).mean() >= 0.99
    assert (result.dynamic_mask[beach + 3 :] >= 0.5).mean() == 0


def test_a_black_foreground_below_a_sunset_sea_stays_still():
    """A sunset sea mirrors its sky; in front of it a strip of near-black rocks, smooth and colourless, which the old
    code followed down as calm water (12 % of it moved). Open water is darkened sky, not black."""
    height, width, horizon, rocks = 180, 320, 100, 165
    t = (np.arange(height) / height)[:, None, None]
    image = np.concatenate([0.25 + 0.7 * t, 0.2 + 0.4 * t, 0.35 - 0.1 * t], axis=-1) * np.ones((1, width, 1))
    image[horizon:] = 0.6 * image[horizon - 1 :: -1][: height - horizon] + 0.01 * _texture((height - horizon, width), 4)
    image[rocks:] = 0.05
    result = region_segment(_to_uint8(image))
    assert (result.water_mask[horizon + 3 : rocks - 3] >= 0.5).mean() >= 0.95
    assert (result.dynamic_mask[rocks + 3 :] >= 0.5).mean() == 0


def test_a_snowfield_below_a_tree_line_is_not_a_lake():
    """Smooth, level on top and below a shore: shaped like a lake, but brighter than the sky above the tree line."""
    height, width, horizon = 180, 320, 80
    image = _sky_rows(height, width)
    image[horizon : horizon + 6] = np.array([0.1, 0.15, 0.08]) + 0.05 * _texture((6, width), seed=1)  # the trees
    image[horizon + 6 :] = _snow_or_sand((0.92, 0.94, 0.97), height, width, seed=2)[horizon + 6 :]
    result = region_segment(_to_uint8(image))
    assert (result.sky_mask[: horizon - 3] >= 0.5).mean() >= 0.99
    assert (result.dynamic_mask[horizon + 3 :] >= 0.5).mean() == 0  # 94 % moved as a lake before


@pytest.mark.parametrize("row, thickness, slope", [(50, 2, 0.0), (70, 3, 0.0), (60, 2, 0.03)])
def test_a_wire_across_the_sky_is_not_a_sea_horizon(row, thickness, slope):
    """A dark wire runs straight across the whole sky: a level colour step on every column, as a sea horizon is. The
    old code took the sky under it for sea, moving it as water (mirrored) while the sky above moved as sky."""
    image, sky, _ = _clouds_over_hills()
    wired = image.copy()
    for column in range(wired.shape[1]):
        top = int(row + slope * column)
        wired[top : top + thickness, column] = 25
    result = region_segment(wired)
    under = sky.copy()
    under[: row + 10] = False
    assert (result.water_mask >= 0.5).sum() == 0
    assert (result.sky_mask[under] >= 0.5).mean() >= 0.85


def test_water_takes_the_reflection_of_a_building_on_its_shore():
    """A lake below a far bank with a red-brown building: its reflection is neither smooth nor sky-coloured, but
    it mirrors the building, so it is water; the building and the bank are not."""
    height, width, bank_top, waterline = 180, 320, 70, 80
    image = _sky_rows(height, width)
    image[bank_top:waterline] = np.array([0.2, 0.3, 0.12]) + 0.06 * _texture((waterline - bank_top, width), seed=6)
    building = (slice(40, waterline), slice(130, 190))
    image[building] = np.array([0.7, 0.35, 0.25]) + 0.08 * _texture((waterline - 40, 60), seed=7)
    for depth in range(height - waterline):  # an exact mirror about the waterline, darkened
        image[waterline + depth] = 0.8 * image[max(waterline - 1 - depth, 0)]
    result = region_segment(_to_uint8(image))
    water = np.zeros((height, width), bool)
    water[waterline:] = True
    reflection = np.zeros_like(water)
    reflection[waterline + 2 : waterline + 38, 134:186] = True
    assert _iou(result.water_mask, water) >= 0.9
    assert (result.water_mask[reflection] >= 0.5).mean() >= 0.9
    static = np.zeros_like(water)
    static[bank_top + 2 : waterline - 2] = True
    static[42 : waterline - 2, 132:188] = True
    assert (result.dynamic_mask[static] >= 0.5).mean() <= 0.01


def test_a_road_far_below_the_horizon_stays_still():
    """Under a grey sky a smooth tarmac road, level and grey, looks like water everywhere but in what it mirrors:
    nothing. (Water as far below the horizon that mirrors its bank, temple_pool_01's pool, is held by the labelled
    set's floor in `test_offline_segmenter_on_all_labelled_photos`.)"""
    height, width, horizon, road = 180, 320, 100, 142
    t = (np.arange(height) / height)[:, None, None]
    storm = np.concatenate([0.25 + 0.35 * t, 0.30 + 0.35 * t, 0.38 + 0.32 * t], axis=-1) * np.ones((1, width, 1))
    image = storm.copy()
    image[horizon:road] = np.array([0.2, 0.3, 0.15]) + 0.07 * _texture((road - horizon, width), seed=8)  # fields
    image[118:124] = np.array([0.75, 0.78, 0.8])  # a guard rail
    image[road:] = np.array([0.17, 0.18, 0.19])
    result = region_segment(_to_uint8(image))
    assert (result.sky_mask[: horizon - 3] >= 0.5).mean() >= 0.95
    assert (result.dynamic_mask[horizon + 3 :] >= 0.5).mean() == 0  # the whole road moved without the mirror rule


def test_a_field_in_shadow_just_below_the_horizon_is_not_a_lake():
    """A level, smooth strip of field in the shadow of a storm, in the sky's cool grey, right under a thin band of
    lit fields: shaped like a lake below its far shore, but far darker than water that mirrors this sky at a grazing
    angle (a quarter of the sky's brightness; calm far water returns about half or more)."""
    height, width, horizon, shadow = 180, 320, 100, 108
    t = (np.arange(height) / height)[:, None, None]
    storm = np.concatenate([0.25 + 0.35 * t, 0.30 + 0.35 * t, 0.38 + 0.32 * t], axis=-1) * np.ones((1, width, 1))
    image = storm.copy()
    image[horizon:shadow] = np.array([0.2, 0.3, 0.15]) + 0.07 * _texture((shadow - horizon, width), seed=8)
    image[shadow:130] = np.array([0.12, 0.13, 0.15])  # the field in shadow
    image[130:] = np.array([0.2, 0.3, 0.15]) + 0.07 * _texture((height - 130, width), seed=9)
    result = region_segment(_to_uint8(image))
    assert (result.sky_mask[: horizon - 3] >= 0.5).mean() >= 0.95
    assert (result.dynamic_mask[horizon + 3 :] >= 0.5).mean() == 0


def test_a_dark_storm_cloud_in_the_colours_of_the_road_moves():
    """A smooth storm front, dark blue-grey, fills the top left corner; the tarmac road at the bottom has exactly its
    colour. Only where it lies (in one smooth piece with the clear sky) tells them apart. The old costs kept half of
    the cloud still, with a straight-sided block cut out of the sky (storm_plain_01 showed it)."""
    height, width, horizon, road = 180, 320, 100, 125
    rows, cols = np.mgrid[:height, :width]
    t = (rows / height)[..., None]
    image = np.concatenate([0.50 + 0.25 * t, 0.58 + 0.22 * t, 0.68 + 0.18 * t], axis=-1)
    storm = np.array([0.16, 0.23, 0.33])
    alpha = np.clip((1.4 - np.hypot(rows / (0.5 * height), cols / (0.35 * width))) / 0.8, 0, 1)[..., None]
    image = image * (1 - alpha) + storm * alpha
    cloud = (alpha[..., 0] > 0.5) & (rows < horizon)
    image[horizon:road] = np.array([0.2, 0.3, 0.15]) + 0.07 * _texture((road - horizon, width), seed=8)  # fields
    image[road:] = storm + 0.03 * _texture((height - road, width), seed=9)
    result = region_segment(_to_uint8(image))
    assert (result.dynamic_mask[cloud] >= 0.5).mean() >= 0.95  # 0.50 with the old costs
    assert (result.dynamic_mask[horizon + 3 :] >= 0.5).mean() == 0


def _against_the_light(height: int = 180, width: int = 320) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sunset photographed against the light: a black silhouette of hills along the bottom quarter, a sky from
    teal at the top to an orange glow at the horizon, and two dark warm-grey clouds with sunlit orange rims (colours
    the teal at the top does not show). Returns (image, true sky, true clouds)."""
    rows, cols = np.mgrid[:height, :width]
    t = (rows / height)[..., None]
    image = np.concatenate([0.15 + 1.2 * t**2, 0.30 + 0.5 * t**2, 0.38 - 0.2 * t], axis=-1)
    clouds = np.zeros((height, width), bool)
    for centre_row, centre_col, radius in ((0.3, 0.3, 0.11), (0.45, 0.72, 0.09)):
        distance = np.hypot(rows - centre_row * height, (cols - centre_col * width) / 2.2) / (radius * height)
        body = np.clip((1.2 - distance) / 0.3, 0.0, 1.0)[..., None]
        rim = (
            np.clip(1.0 - np.abs(distance - 1.05) / 0.12, 0.0, 1.0)[..., None] * (rows < centre_row * height)[..., None]
        )
        image = image * (1 - body) + np.array([0.32, 0.24, 0.2]) * body  # warm grey, darker than the sky
        image = image * (1 - rim) + np.array([0.95, 0.6, 0.25]) * rim  # lit by the sun behind it
        clouds |= (body[..., 0] > 0.5) | (rim[..., 0] > 0.5)
    outline = (0.75 * height + 0.04 * height * np.sin(cols[0] / width * 2 * np.pi)).astype(int)
    land = rows >= outline[None, :]
    image[land] = 0.01 + 0.005 * _texture((height, width), seed=11)[land]
    return _to_uint8(image), ~land, clouds & ~land


def test_against_the_light_the_dark_clouds_of_a_sunset_move():
    """A black silhouette whose outline stands against a lit sky: the sun is ahead, so nothing on the land facing
    the camera is lit, and every lit pixel above the silhouette is sky. The warm grey clouds and their orange rims
    move, though the clear sky at the top shows neither colour (sunset_clouds_hills_01 kept 92 % of its clouds
    still before)."""
    image, sky, clouds = _against_the_light()
    result = region_segment(image)
    assert (result.dynamic_mask[clouds] >= 0.5).mean() >= 0.95
    assert (result.dynamic_mask[~sky] >= 0.5).mean() == 0


def test_a_mountain_lake_is_found_from_its_mirror_image():
    """Mountains mirrored in a lake: no level edge anywhere (the reflected ridge is as jagged as the ridge), so only
    the mirror image gives the waterline away. The water is found, the mountains stay still."""
    height, width, waterline = 180, 320, 100
    rows, cols = np.mgrid[:height, :width]
    ridge = waterline - 25 - 20 * np.abs(np.sin(cols[0] / width * 4 * np.pi)) - 8 * np.sin(cols[0] / 9.0)
    image = _sky_rows(height, width)
    mountain = rows[:waterline] >= ridge[None, :]
    image[:waterline][mountain] = (np.array([0.35, 0.33, 0.3]) + 0.09 * _texture((waterline, width), seed=10))[mountain]
    for depth in range(height - waterline):
        image[waterline + depth] = 0.75 * image[max(waterline - 1 - depth, 0)]
    result = region_segment(_to_uint8(image))
    water = rows >= waterline
    assert _iou(result.water_mask, water) >= 0.85
    inside_mountain = mountain & (rows[:waterline] >= ridge[None, :] + 3)
    assert (result.dynamic_mask[:waterline][inside_mountain] >= 0.5).mean() <= 0.01


def _rippled_mountain_lake(height: int = 180, width: int = 320, waterline: int = 120) -> np.ndarray:
    """Peaks with snow fields over a forest with a ragged top, mirrored in a lake whose ripples break the mirror
    image: each pixel at depth d takes its colour from a row up to 40 % of d away from its mirror row, and ripple
    lines cross the water."""
    rows, cols = np.mgrid[:height, :width]
    ridge = 40 + 18 * np.abs(np.sin(cols[0] / width * 5 * np.pi)) + 6 * np.sin(cols[0] / 7.0)
    image = _sky_rows(height, width)
    rock = np.array([0.4, 0.38, 0.36]) + 0.06 * _texture((height, width), seed=12)
    snow_fields = ndimage.gaussian_filter(np.random.default_rng(11).normal(size=(height, width)), 6) > 0.02
    rock[snow_fields] = (0.85 + 0.04 * _texture((height, width), seed=10))[snow_fields]
    land = rows >= ridge[None, :]
    image[land] = rock[land]
    tree_line = waterline - 14 - 10 * np.abs(np.sin(cols[0] / 9.0)) * (np.sin(cols[0] / 31.0) > -0.3)
    forest = rows >= tree_line[None, :]
    stands = 0.05 * np.sin(cols / 13.0)[..., None]  # lighter and darker stands of trees
    image[forest] = (np.array([0.1, 0.16, 0.09]) + stands + 0.03 * _texture((height, width), seed=13))[forest]
    rng = np.random.default_rng(14)
    for depth in range(height - waterline):
        jitter = ndimage.gaussian_filter1d(rng.normal(size=width), 2.0)
        source = np.clip(waterline - 1 - np.round(depth * (1 + 0.4 * jitter / np.abs(jitter).max())), 0, None)
        ripple = 0.85 + 0.1 * np.sin(depth * 1.7)
        image[waterline + depth] = ripple * image[source.astype(int), cols[0]] * 0.8 + 0.05
    return image


def test_a_rippled_mountain_lake_is_found_from_its_columns():
    """Ripples break a mountain lake's mirror image pixel by pixel, so no pixel test finds it; but every peak and gap
    still lies in its own columns, so bands of rows averaged down their columns mirror each other about the shore.
    The whole lake moves, the peaks and the forest do not."""
    height, waterline = 180, 120
    result = region_segment(_to_uint8(_rippled_mountain_lake(height=height, waterline=waterline)))
    rows = np.mgrid[:height, :320][0]
    assert _iou(result.water_mask, rows >= waterline) >= 0.85
    assert (result.dynamic_mask[60 : waterline - 3] >= 0.5).mean() <= 0.01


def test_a_rippled_image_in_shade_is_no_water():
    """The rippled lake above, turned below its shore into grass in shade, with the same shapes at a third of the
    brightness: its columns still mirror the land above, as the stalks of a meadow seen close up happened to in a
    crop of a labelled photo. Open water mirrors a lit sky and is not that dark, so it stays still (95 % of it moved
    before)."""
    height, waterline = 180, 120
    image = _rippled_mountain_lake(height=height, waterline=waterline)
    brightness = image[waterline:].mean(axis=-1, keepdims=True)
    image[waterline:] = brightness * np.array([0.3, 0.45, 0.2])
    result = region_segment(_to_uint8(image))
    assert result.water_mask.max() == 0
    assert (result.dynamic_mask[waterline:] >= 0.5).mean() == 0


def test_trunks_that_run_on_down_are_not_a_reflection():
    """A forest: dark trunks from the sky's edge to the bottom repeat the same columns in every band of rows, as a
    reflection would. But the band above any row matches the band above it as well as the one below: nothing moves
    under the sky."""
    height, width = 180, 320
    rows, cols = np.mgrid[:height, :width]
    image = _sky_rows(height, width)
    ground = rows >= 50
    image[ground] = (np.array([0.3, 0.4, 0.2]) + 0.06 * _texture((height, width), seed=15))[ground]
    trunks = (np.sin(cols / 5.3) + 0.6 * np.sin(cols / 2.1) > 0.9) & (rows >= 30)
    image[trunks] = (np.array([0.12, 0.09, 0.07]) + 0.03 * _texture((height, width), seed=16))[trunks]
    result = region_segment(_to_uint8(image))
    assert result.water_mask.max() == 0
    assert (result.dynamic_mask[53:] >= 0.5).mean() <= 0.005


@pytest.mark.parametrize("grain_px", [2, 6])
def test_a_smooth_rock_face_is_not_its_own_reflection(grain_px):
    """Below the sky, a rock face of soft grain (or a blurred foreground) fills the rest of the photo. Right under any
    row, its pixels look like those just above that row, as a mirror image's would: the old mirror test found a
    waterline in it, and 37 % (grain 2 px) or 52 % (grain 6 px) of the rock moved."""
    height, width, horizon = 180, 320, 90
    image = _sky_rows(height, width)
    grain = ndimage.gaussian_filter(np.random.default_rng(5).normal(size=(height, width)), grain_px)
    rock = np.array([0.55, 0.5, 0.42]) * (1 + 0.12 * grain / grain.std())[..., None]
    image[horizon:] = rock[horizon:]
    result = region_segment(_to_uint8(image))
    assert (result.sky_mask[: horizon - 3] >= 0.5).mean() >= 0.99
    assert (result.dynamic_mask[horizon + 3 :] >= 0.5).mean() == 0


def test_rows_of_lit_windows_are_not_a_reflection():
    """A city at dusk: dark blocks with rows of lit windows over a dark street. About a row between two rows of
    windows the grid is its own mirror image, as water would be; but it is just as like itself shifted by a period,
    which a reflection is not. The old code made the lower half of the city and the street water (58 % moved)."""
    height, width = 180, 320
    rows, cols = np.mgrid[:height, :width]
    t = (rows / height)[..., None]
    image = np.concatenate([0.1 + 0.6 * t, 0.12 + 0.3 * t, 0.35 + 0.05 * t], axis=-1)
    city = rows >= 150
    for left in range(0, width, 32):
        city[80 + (left * 37) % 50 :, left : left + 28] = True
    image[city] = 0.08
    image[city & (rows % 8 < 3) & (cols % 6 < 2) & (rows < 150)] = np.array([0.9, 0.75, 0.4])
    result = region_segment(_to_uint8(image))
    assert (result.dynamic_mask[city] >= 0.5).mean() == 0
    assert (result.sky_mask[~city] >= 0.5).mean() >= 0.9


def test_a_lake_takes_the_colours_of_the_sunset_glow_it_reflects():
    """A dusk sky, blue overhead and orange at the horizon, over a calm lake that mirrors it: the orange part of the
    lake is no blue and no grey, but it is a colour of this sky, so it is water as much as the blue part."""
    height, width, horizon, shore = 180, 320, 80, 10
    t = (np.arange(height) / horizon)[:, None, None].clip(0, 1)
    glow = np.clip((t - 0.2) / 0.8, 0, 1) ** 2
    sky = np.concatenate([0.35 + 0.6 * glow, 0.5 + 0.15 * glow, 0.85 - 0.55 * glow], axis=-1) * np.ones((1, width, 1))
    image = sky.copy()
    image[horizon : horizon + shore] = np.array([0.12, 0.15, 0.08]) + 0.05 * _texture((shore, width), seed=2)
    for row in range(horizon + shore, height):
        image[row] = 0.8 * sky[max(horizon - 1 - (row - horizon - shore), 0)]
    result = region_segment(_to_uint8(image))
    assert _iou(result.water_mask, np.arange(height)[:, None] >= horizon + shore) >= 0.85
    assert (result.dynamic_mask[horizon + 2 : horizon + shore - 2] >= 0.5).mean() <= 0.01  # the shore stays


def test_water_takes_any_of_the_sky_s_colours_mixed_with_grey_but_not_a_boat_in_the_glow_s_hue():
    """A reflection mixes what it mirrors with grey. Under a sky that is mostly blue with an orange glow, the glow
    mirrored pale is a water colour, though it is neither the sky's typical hue nor one of its exact colours; a
    sunlit boat in the glow's hue, as saturated as the glow or more, and green grass are not."""
    height, width = 60, 100
    t = np.linspace(0, 1, height)[:, None, None]
    glow = np.clip((t - 0.6) / 0.4, 0, 1)  # the bottom two fifths of the sky, blue through to orange
    sky_rgb = (np.array([0.35, 0.5, 0.85]) * (1 - glow) + np.array([0.95, 0.6, 0.25]) * glow) * np.ones((1, width, 1))
    sky = np.ones((height, width), bool)
    orange = np.array([0.95, 0.6, 0.25])
    samples = np.array(
        [
            0.5 * orange + 0.5 * orange.mean(),  # the glow mirrored pale in a lake
            0.3 * orange + 0.7 * 0.8 * orange.mean(),  # ... paler and darker
            [0.6, 0.25, 0.08],  # a boat's varnished wood
            [0.3, 0.45, 0.15],  # grass
        ]
    )
    image = np.concatenate([sky_rgb, np.broadcast_to(samples[:, None], (4, width, 3))])
    found = water_coloured(image, np.concatenate([sky, np.zeros((4, width), bool)]))[height:, 0]
    assert found.tolist() == [True, True, False, False]


def test_under_a_grey_sky_water_takes_its_greys_without_warnings():
    """An overcast sky has no hue for a reflection to mix with grey: the colour test still works, silently (it warned
    about an empty median on every grey photo)."""
    rgb = np.full((20, 30, 3), 0.6)
    rgb[10:] = 0.4
    sky = np.zeros((20, 30), bool)
    sky[:10] = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert water_coloured(rgb, sky)[10:].all()


def _two_thirds_of_a_mirror_image(height: int, width: int, waterline: int) -> tuple[np.ndarray, int, int]:
    """Column profiles (H, W) of noise whose first two thirds of a band under ``waterline`` mirror the rows above it:
    (profiles, the height of a third, the first row below the mirror image)."""
    third = max(2, round(PROFILE_BAND * height) // 3)
    profiles = 0.1 * np.random.default_rng(0).normal(size=(height, width))
    for row in range(waterline, waterline + 2 * third):
        profiles[row] = profiles[2 * waterline - 1 - row]
    return profiles, third, waterline + 2 * third


def test_a_strip_of_water_followed_down_ends_where_its_streaks_stop():
    """`_followed_down` goes on down a strip while each third of a band mirrors the rows above the waterline, or
    continues the streaks of the water above it. A boat's rim repeats the bow above it, which is no water: the strip
    ends above both."""
    height, width, waterline = 80, 160, 40
    profiles, third, miss = _two_thirds_of_a_mirror_image(height, width, waterline)
    profiles[miss + third : miss + 2 * third] = profiles[miss : miss + third]  # the rim repeats the bow above it
    water = _followed_down(profiles, np.full((height, width, 3), 0.4), np.zeros((height, width), bool), waterline)
    assert water[waterline:miss].all()
    assert not water[miss:].any()  # it ran on over the rim (to miss + 2 thirds) when a bow's streaks counted


@pytest.mark.parametrize("boat", [False, True])
def test_a_strip_of_water_followed_down_ends_at_a_boat_whose_sides_run_on_like_its_streaks(boat):
    """Below two thirds of a mirror image, the streaks run on down to the bottom of the strip. In the water's colours
    that is a reflection stretched by ripples, and the strip follows it; in a boat's orange, the strip ends at the
    boat (in a crop of lake_boats_sunset_01 a rectangle of a boat and the beach under it moved, 7 % of the land)."""
    height, width, waterline = 80, 160, 40
    profiles, _, below = _two_thirds_of_a_mirror_image(height, width, waterline)
    profiles[below:] = profiles[below - 1]  # the streaks run on down
    rgb = np.full((height, width, 3), 0.4)
    if boat:
        rgb[below:] = (0.6, 0.3, 0.15)
    water = _followed_down(profiles, rgb, np.zeros((height, width), bool), waterline)
    assert water[waterline:below].all()
    assert water[below:].all() != boat


def test_a_sky_that_brightens_towards_the_horizon_is_not_a_sea():
    """A sunset sky changes colour in every row, as steeply as a blurred sea horizon: no row of it is a waterline."""
    height, width = 180, 320
    rows = np.arange(height)[:, None, None] * np.ones((1, width, 1))
    glow = 1 / (1 + np.exp(-(rows - 0.5 * height) / (0.05 * height)))  # dusk blue above, an orange glow below
    image = np.concatenate([0.25 + 0.7 * glow, 0.25 + 0.35 * glow, 0.55 - 0.2 * glow], axis=-1)
    image[140:] = np.array([0.18, 0.2, 0.1]) + 0.06 * _texture((40, width), seed=11)
    result = region_segment(_to_uint8(image))
    assert result.water_mask.max() == 0
    assert (result.sky_mask[: int(0.4 * height)] >= 0.5).mean() >= 0.95
    assert (result.dynamic_mask[143:] >= 0.5).mean() == 0  # the hills stay still


def test_a_field_below_a_green_hill_is_not_a_reflection():
    """Green on green below a level line looks like a mirror image by colour, but there is no water: nothing moves
    below the sky."""
    height, width = 180, 320
    image = _sky_rows(height, width)
    image[60:110] = np.array([0.2, 0.35, 0.12]) + 0.07 * _texture((50, width), seed=8)
    image[110:] = np.array([0.22, 0.37, 0.13]) + 0.07 * _texture((70, width), seed=9)
    result = region_segment(_to_uint8(image))
    assert result.water_mask.max() == 0
    assert (result.dynamic_mask[64:] >= 0.5).mean() == 0


def test_wind_on_one_end_of_a_calm_lake_moves_with_the_rest():
    """A breeze roughens the left third of a calm lake into level streaks: too rough for calm water, so less than
    half of that end moved with the rest of the lake. Beside water, in its rows, such streaks in its colours are
    water too; the shore above stays still."""
    image, sky, water = _lake()
    painted = image.astype(np.float64) / 255
    top, left = np.flatnonzero(water.any(axis=1))[0], slice(0, sky.shape[1] // 3)
    streaks = ndimage.gaussian_filter(np.random.default_rng(5).normal(size=(sky.shape[0] - top, left.stop)), (0.7, 6))
    painted[top:, left] *= 1 + 0.1 * (streaks / streaks.std())[..., None]
    result = region_segment(_to_uint8(painted))
    assert (result.water_mask[top:, left] >= 0.5).mean() >= 0.9  # 0.43 before
    assert _iou(result.water_mask, water) >= 0.9
    assert (result.dynamic_mask[~(sky | water)] >= 0.5).mean() == 0


def test_rough_glitter_cut_off_by_the_frame_moves_and_a_boat_there_stays():
    """Two gaps at the bottom edge of a lake's water: rough glitter in the water's own colours, which every rule for
    water had left still (a third of it moved, as a block in the moving lake), and an orange boat."""
    image, sky, water = _lake()
    painted = image.astype(np.float64) / 255
    height = sky.shape[0]
    glitter, boat = np.zeros_like(sky), np.zeros_like(sky)
    glitter[height - 24 :, 100:150] = True
    boat[height - 20 :, 220:260] = True
    painted[glitter] *= (1 + 0.2 * _texture(sky.shape, seed=8))[glitter]
    painted[boat] = (np.array([0.55, 0.3, 0.15]) + 0.05 * _texture(sky.shape, seed=9))[boat]
    result = region_segment(_to_uint8(painted))
    assert (result.water_mask[glitter] >= 0.5).mean() >= 0.95  # 0.34 before
    assert (result.dynamic_mask[boat] >= 0.5).mean() <= 0.01
    assert _iou(result.water_mask, water & ~boat) >= 0.95


def test_an_island_in_a_lake_stays_still():
    """A wooded island inside the lake is a hole in the water surface, not part of it: it must not move (the lake
    around it still does). Glints smaller than an island are still filled."""
    image, sky, water = _lake()
    rows, cols = np.mgrid[: sky.shape[0], : sky.shape[1]]
    island = ((rows - 130) / 12) ** 2 + ((cols - 160) / 40) ** 2 <= 1
    painted = image.astype(np.float64) / 255
    painted[island] = (np.array([0.15, 0.25, 0.1]) + 0.08 * _texture(sky.shape, seed=21))[island]
    result = region_segment(_to_uint8(painted))
    assert (result.dynamic_mask[island] >= 0.5).mean() <= 0.02
    assert _iou(result.water_mask, water & ~island) >= 0.9


def test_a_hazy_ridge_behind_its_skyline_stays_still_and_a_bright_cloud_on_it_moves():
    """Overcast: a far range in haze has the grey of the clouds, so colour calls it sky; its crisp outline and its
    being darker than the sky behind it give it away. A white cloud bank with a crisp outline resting on the same
    ridge is brighter than the sky above it: it stays sky."""
    height, width = 180, 320
    rows, cols = np.mgrid[:height, :width]
    image = np.array([0.55, 0.56, 0.55]) + 0.15 * (rows / height)[..., None] * np.ones(3)
    base = np.clip(1.2 - (((rows - 30) / 14.0) ** 2 + ((cols - 200) / 70.0) ** 2), 0, 1)[..., None]
    image = image * (1 - 0.6 * base) + 0.21 * base  # a soft dark cloud base high up
    ridge = (95 + 12 * np.abs(((cols[0] / 23.0) % 2) - 1) + 10 * np.sin(cols[0] / 50)).astype(int)
    haze = (rows >= ridge[None, :]) & (rows < 135) & (cols >= 110)
    bank = (rows >= ridge[None, :] - 12) & (rows < 135) & (cols < 90)
    land = rows >= 135
    image[haze], image[bank] = 0.5, 0.9
    image[land] = (np.array([0.12, 0.14, 0.1]) + 0.05 * _texture((height, width), seed=13))[land]
    result = region_segment(_to_uint8(image))
    core = ~ndimage.binary_dilation(~haze, iterations=3)
    assert (result.dynamic_mask[core] >= 0.5).mean() <= 0.1
    assert (result.sky_mask[bank & ~ndimage.binary_dilation(~bank, iterations=3)] >= 0.5).mean() >= 0.9
    assert _iou(result.sky_mask, ~(haze | land)) >= 0.95


def _fog_on_a_hill(height: int = 180, width: int = 320) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A pale morning sky over a hillside rising to the right, a hazy tree line along its top, and a fog bank below
    the trees, as bright and smooth as a cloud, thinning into the field at the foot of the hill: (image, sky, trees)."""
    rows, cols = np.mgrid[:height, :width]
    t = (rows / height)[..., None]
    image = np.concatenate([0.45 + 0.1 * t, 0.56 + 0.08 * t, 0.68 + 0.02 * t], axis=-1)
    crowns = 2.5 * np.abs(np.sin(cols[0] / 3.1)) + 1.5 * np.abs(np.sin(cols[0] / 7.3))
    hilltop = (0.45 * height - 0.25 * height * cols[0] / width - crowns).astype(int)
    land = rows >= hilltop[None, :]
    trees = land & (rows < hilltop[None, :] + 0.05 * height + crowns[None, :])
    image[trees] = (np.array([0.36, 0.40, 0.37]) + 0.01 * _texture((height, width), seed=21))[trees]
    depth = (rows - hilltop[None, :] - crowns[None, :] - 0.02 * height) / height
    fog = np.clip(np.minimum(depth / 0.04, (0.35 - depth) / 0.15), 0, 1)[..., None]
    field = np.array([0.5, 0.38, 0.24]) + 0.03 * _texture((height, width), seed=22)
    ground = np.where(trees[..., None], image, field)
    image[land] = (ground * (1 - fog) + np.array([0.6, 0.59, 0.57]) * fog)[land]
    return _to_uint8(image), ~land, trees


def test_a_fog_bank_on_a_hillside_stays_still_below_the_tree_line():
    """Fog lying on a hill is cloud-coloured and smooth, and it fades into the field below without an edge, so the
    sky search ran on through it (28 % of the land moved, and the trees with it in a photo). The tree line along the
    hilltop stays a crisp, level step down from the sky: the sky ends there."""
    image, sky, trees = _fog_on_a_hill()
    result = region_segment(image)
    assert (result.dynamic_mask[~sky] >= 0.5).mean() <= 0.02  # 0.28 before
    assert (result.dynamic_mask[trees] >= 0.5).mean() == 0
    assert _iou(result.sky_mask, sky) >= 0.95  # 0.60 before


def test_where_the_fog_hides_the_tree_line_the_skyline_goes_on_behind_it():
    """hills_fog_01: over part of the hill the fog rises over the trees and fades into the sky, and no outline shows
    there; the sky search runs on down to where the land shows, and there the fog on the hill moved (8 % of the
    photo's land). The tree line found beside it is continued behind the fog, as the hill goes on. At the coarse
    size, given the sky the search found (down to the field everywhere)."""
    height, width, fog_end = 120, 200, 90
    rows, cols = np.mgrid[:height, :width]
    hilltop = (75 - 0.1 * cols[0]).round().astype(int)
    hidden = cols < 80
    on_hill = rows >= hilltop[None, :]
    # The fog fades into the field over 20 rows; over the hidden part it also fades up into the sky over 15 rows.
    fog = np.clip((fog_end + 20 - rows) / 20, 0, 1) * on_hill
    veil = np.clip((rows - hilltop[None, :]) / 15 + 1, 0, 1) * (rows < fog_end + 20)
    fog = np.where(hidden, np.maximum(fog, veil), fog)[..., None]
    field = np.array([0.5, 0.4, 0.26]) + 0.005 * np.random.default_rng(0).normal(size=(height, width, 3))
    image = np.where(on_hill[..., None], field, np.array([0.55, 0.62, 0.7]))
    image = image * (1 - fog) + np.array([0.75, 0.74, 0.72]) * fog
    image[~hidden & on_hill & (rows < hilltop[None, :] + 5)] = np.array([0.3, 0.35, 0.3])  # the tree line
    found = rows < fog_end
    sky = _below_skyline_in_haze(found, np.zeros_like(found), image.astype(np.float32))
    ends = sky.argmin(axis=0) - hilltop
    assert np.abs(ends[~hidden[0]] + 1).max() == 0  # right above the trees
    assert np.abs(ends[hidden[0]] + 1).max() <= 1  # 15-23 rows below the line before: on the fog


def test_the_furthest_of_layered_ridges_stays_still():
    """Three ranges, each paler with distance. The furthest is in the sky's haze, barely darker than the sky above
    its crisp outline (luma 0.59 against 0.63): the old rule wanted 0.08 of contrast and moved all of it."""
    height, width = 180, 320
    rows, cols = np.mgrid[:height, :width]
    image, land = _sky_rows(height, width), np.zeros((height, width), bool)
    for layer, (base, amplitude, shade) in enumerate([(70, 12, 0.62), (95, 15, 0.45), (120, 18, 0.28)]):
        ridge = base + amplitude * np.sin(cols[0] / width * (3 + layer) * np.pi + layer)
        below = rows >= ridge[None, :]
        colour = np.array([0.9, 0.95, 1.1]) * shade + 0.01 * _texture((height, width), seed=7 + layer)
        image[below] = colour[below]
        land |= below
    result = region_segment(_to_uint8(image))
    assert (result.dynamic_mask[land] >= 0.5).mean() == 0  # 0.17 before: the furthest range
    assert _iou(result.sky_mask, ~land) >= 0.95


def test_sky_beside_a_wall_that_fills_the_top_is_sky_not_water():
    """Looking up at a building: a textured wall fills the left of the photo from top to bottom, its edge slants,
    and the sky runs down to the bottom on the right. Columns without sky show no horizon, so nothing here is a
    waterline: the sky is sky (it moves as sky) and no water appears."""
    height, width = 180, 320
    rows, cols = np.mgrid[:height, :width]
    image = _sky_rows(height, width)
    wall = cols < 120 + 0.5 * rows
    image[wall] = (np.array([0.55, 0.45, 0.35]) + 0.1 * _texture((height, width), seed=12))[wall]
    result = region_segment(_to_uint8(image))
    assert result.water_mask.max() == 0
    assert _iou(result.sky_mask, ~wall) >= 0.95
    assert (result.dynamic_mask[wall & ~ndimage.binary_dilation(~wall, iterations=3)] >= 0.5).mean() <= 0.01


@pytest.mark.parametrize("brightness", [0.1, 0.7])
def test_foggy_photo_where_nothing_can_be_told_apart_stays_still(brightness):
    result = region_segment(_fog(brightness))
    assert result.dynamic_mask.max() == 0 and result.sky_mask.max() == 0
    assert result.uncertainty is not None
    assert result.confidence.max() == 0


@pytest.mark.parametrize("size", [(60, 4000), (32, 2000), (8000, 32)])
def test_a_strip_too_narrow_to_tell_sky_from_land_stays_still_and_says_so(size):
    """At the working size such a strip is a few pixels across: a line fit on one column crashed (60x4000), and
    an 8000x32 strip moved whole, its dock included."""
    photo = Image.open(Path(__file__).resolve().parents[1] / "examples" / "lake_dock_01.jpg").convert("RGB")
    result = region_segment(photo.resize(size))
    assert result.dynamic_mask.shape == size[::-1] and result.dynamic_mask.max() == 0
    assert "too narrow a strip" in result.uncertainty


def test_grass_seen_close_up_has_no_sky():
    """Blades of grass in front of a smooth, blurred green background: the top of the photo is smooth like a clear
    sky, but green. Nothing may move (the whole background did), and the verdict says why."""
    height, width = 180, 320
    rows, columns = np.mgrid[:height, :width]
    background = np.array([0.45, 0.7, 0.28]) + 0.04 * (rows / height)[..., None]
    blades = np.sin(columns / 3.0 + 0.4 * np.sin(rows / 20.0)) > 0.6
    blades &= rows > 60 + 40 * np.sin(columns / 17.0) ** 2
    image = np.where(blades[..., None], np.array([0.2, 0.55, 0.1]) + 0.08 * _texture((height, width), 9), background)
    result = region_segment(_to_uint8(image))
    assert result.dynamic_mask.max() == 0
    assert "leaves or grass" in (result.uncertainty or "")


def _labelled_photo(name: str) -> tuple[Image.Image, LabelMasks]:
    """A photo of the labelled set (examples/ or benchmarks/mask_photos) and its labels at the photo's size."""
    repo = Path(__file__).resolve().parents[1]
    folders = (repo / "examples", repo / "benchmarks" / "mask_photos")
    path = next(folder / f"{name}.jpg" for folder in folders if (folder / f"{name}.jpg").exists())
    return Image.open(path).convert("RGB"), render_labels(repo / "benchmarks" / "mask_labels" / f"{name}.json")


def _scores(photo: Image.Image, labels: LabelMasks) -> MaskScores:
    result = region_segment(photo)
    return score_movable_mask(result.dynamic_mask, labels, sky=result.sky_mask)


def _region_scores(name: str, variant: str = "original") -> MaskScores:
    """The offline segmenter's scores on a labelled photo, in one of the labelled set's forms (`PHOTO_VARIANTS`)."""
    return _scores(*PHOTO_VARIANTS[variant](*_labelled_photo(name)))


def _cropped_scores(name: str, box: tuple[int, int, int, int]) -> MaskScores:
    """The offline segmenter's scores on a labelled photo cropped to ``box`` (left, top, right, bottom)."""
    return _scores(*crop_labelled(*_labelled_photo(name), box))


def test_a_rock_ridge_reaching_into_the_top_rows_stays_still():
    """mountains_autumn_01 cropped to its centre (the 'inner' variant of the labelled set): the grey rock ridge
    reaches into the top rows, which are taken for clear sky. Its colours taught the sky model the rock, and 36 % of
    the land moved; the top rows are now cut at the skyline."""
    scores = _region_scores("mountains_autumn_01", "inner")
    assert scores.land_in_mask <= 0.02
    assert scores.sky_iou >= 0.9


def test_the_tree_line_of_a_foggy_hill_stays_still():
    """hills_fog_01: the fog bank on the hill took the sky search down to the field, and the hazy tree line on the
    hilltop drifted with the clouds (27 % of the land moved, sky IoU 0.74). The sky now ends at the trees, and at the
    left, where no trees show through the fog, at their line continued (8.4 % of the land moved before that)."""
    scores = _region_scores("hills_fog_01")
    assert scores.land_in_mask <= 0.005
    assert scores.sky_iou >= 0.95


def test_a_thin_far_shore_under_a_dusk_sky_stays_still_in_an_upright_photo():
    """An upright photo of a dusk lake: a pink glow over a thin, rough far shore, and calm water that mirrors both.
    The sky search runs on through a shore this thin, and its straight top passed for a sea's horizon: the whole
    shore moved with the water as the sea. A sea is smooth from its horizon down; a shore is not."""
    height, width, horizon, shore = 320, 180, 192, 11
    t = np.clip(np.arange(height) / horizon, 0, 1)[:, None, None] ** 2
    sky_rows = np.array([0.35, 0.35, 0.65]) + np.array([0.6, 0.43, 0.17]) * t  # dusk blue down to a pink glow
    image = np.broadcast_to(sky_rows, (height, width, 3)).copy()
    trees = np.array([0.35, 0.32, 0.45]) * (1.0 + 0.17 * _texture((shore, width), seed=4))
    image[horizon : horizon + shore] = trees
    image[horizon + shore : horizon + 2 * shore] = 0.85 * trees[::-1]  # the shore's reflection
    for row in range(horizon + 2 * shore, height):
        image[row] = 0.85 * sky_rows[max(horizon - 1 - (row - horizon - shore), 0)]
    result = region_segment(_to_uint8(image))
    land = np.zeros((height, width), bool)
    land[horizon : horizon + shore] = True
    water = np.zeros_like(land)
    water[horizon + shore :] = True
    assert (result.dynamic_mask[land] >= 0.5).mean() == 0  # all of it moved before
    assert _iou(result.water_mask, water) >= 0.85  # 0.89: the shore's rough reflection stays still with it
    assert _iou(result.sky_mask, np.arange(height)[:, None] < horizon) >= 0.97


def test_the_far_shore_of_a_dusk_lake_is_no_sea_horizon():
    """lake_reeds_dusk_01 cropped upright (the 'portrait' variant): the sky search runs on through the thin far shore,
    and the straight top of the shore passed for a sea's horizon, so the shore under it moved with the lake as the
    sea (81 % of the land). A sea is smooth from its horizon down; a tree line there is a shore."""
    scores = _region_scores("lake_reeds_dusk_01", "portrait")
    assert scores.land_in_mask <= 0.02
    assert scores.water_iou is not None and scores.water_iou >= 0.75


def test_a_smooth_patch_of_a_beach_under_a_straight_horizon_is_no_lake():
    """beach_bridge_01 cropped upright (the 'portrait' variant): the sky search runs on over the pale sands, and the
    straight horizon above them was rightly judged to have land under it, not sea. But the smooth wet sand at the
    bottom of the frame then passed for a lake beyond a shore, and a rectangle of the beach moved (23 % of the land).
    What was judged land as a whole keeps its smooth patches."""
    scores = _region_scores("beach_bridge_01", "portrait")
    assert scores.land_in_mask <= 0.02
    assert scores.sky_iou >= 0.95


def test_the_haze_between_two_castle_towers_is_no_water_beside_a_pier():
    """castle_hills_01 cropped upright (the 'portrait' variant): the sky between two towers was cut level with their
    roofs, and the strip of pale haze below the cut, over the distant hills, passed for calm water beside a pier: a
    block of the view between the towers moved as water (7 % of the land). Water beside a pier reaches well down."""
    scores = _region_scores("castle_hills_01", "portrait")
    assert scores.land_in_mask <= 0.02
    assert scores.sky_iou >= 0.95


def test_a_sunset_lake_that_mirrors_the_glow_pale_moves_and_the_boats_on_its_shore_stay():
    """lake_boats_sunset_01: the calm middle of the lake mirrors the sunset glow, paler than the glow itself, and was
    found in no colour of the sky: none of the lake moved. The bows of the orange boats along its shore, below the
    lake, stay still."""
    scores = _region_scores("lake_boats_sunset_01")
    assert scores.water_iou is not None and scores.water_iou >= 0.55  # 0 before
    assert scores.land_in_mask <= 0.005


def test_the_rippled_ends_of_a_sunset_lake_move_with_its_calm_middle():
    """lake_boats_sunset_01: a breeze ripples the lake's left end. Too rough for calm water, it stayed still beside
    the moving middle (water IoU 0.60); level streaks in the water's colours, beside the water and in its rows, are
    water."""
    scores = _region_scores("lake_boats_sunset_01")
    assert scores.water_iou is not None and scores.water_iou >= 0.75
    assert scores.land_in_mask <= 0.005


def test_the_rippled_reflection_of_the_golden_temple_moves_with_the_pool():
    """temple_pool_01: at the photo's bottom edge, a block of the pool where the temple's golden reflection is
    rippled most stayed still while the water around it moved (water IoU 0.95). It has the colours of the water
    around it, and the frame cuts it off: it is water (IoU 0.999)."""
    scores = _region_scores("temple_pool_01")
    assert scores.water_iou is not None and scores.water_iou >= 0.99
    assert scores.land_in_mask <= 0.01


def test_the_reeds_of_a_small_copy_of_a_dusk_lake_stay_still():
    """lake_reeds_dusk_01 320 px long (the 'small' variant): the segmenter enlarges it to its working size, and a reed
    one pixel thin becomes a soft stroke several pixels wide, no darker than the pixels two either side of it: the
    reed bed was not found and moved with the lake (67 % of the land). Strokes are now looked for that much wider."""
    scores = _region_scores("lake_reeds_dusk_01", "small")
    assert scores.land_in_mask <= 0.02
    assert scores.water_iou is not None and scores.water_iou >= 0.9


def test_the_crisp_cumulus_on_the_picos_ridge_drifts_whole():
    """mountains_clouds_02: a white cumulus rests on a limestone ridge. Its crisp rim was one chain of sharp edges
    with the ridge's outline and stayed still, and so did the puffs along it (63 % of the cloud moved)."""
    scores = _region_scores("mountains_clouds_02")
    assert scores.cloud_included is not None and scores.cloud_included >= 0.85
    assert scores.sky_iou is not None and scores.sky_iou >= 0.93  # 0.88 before
    assert scores.land_in_mask <= 0.02


def test_a_sunset_cloud_with_a_crisp_edge_drifts_whole():
    """lake_boats_sunset_01: a 4-pixel speck on the crisp lower edge of the middle dark cloud passed for a thing in
    the sky, and the whole chain of sharp edges it touches went with it: a band of the cloud's edge stayed still as
    the cloud drifted, and by the end of a video the cloud looked torn in two. A speck takes no edge with it."""
    photo, labels = _labelled_photo("lake_boats_sunset_01")
    result = region_segment(photo)
    height, width = labels.sky.shape
    cloud = np.zeros_like(labels.sky)
    cloud[int(0.13 * height) : int(0.23 * height), int(0.55 * width) : int(0.73 * width)] = True
    cloud &= labels.sky & labels.scored
    assert (result.dynamic_mask[cloud] >= 0.5).mean() >= 0.99  # 0.92 before


def test_no_labelled_sky_has_the_colours_of_shaded_earth():
    """Dark, saturated orange to olive (grass in its own shade, soil, bark) is no sky colour: not one labelled sky
    pixel of the set has it (sunset clouds included), while a third of a backlit meadow's land does."""
    repo = Path(__file__).resolve().parents[1]
    meadow_share = None
    for name, label_path in label_files(repo / "benchmarks" / "mask_labels").items():
        photo = _labelled_photo(Path(name).stem)[0]
        photo.thumbnail((384, 384))
        labels = render_labels(label_path, photo.size)
        earth = _shaded_earth(*_hsv(np.asarray(photo, dtype=np.float32) / 255.0))
        assert not earth[labels.sky & labels.scored].any(), name
        if name.startswith("meadow_dandelions"):
            meadow_share = float(earth[labels.land & labels.scored].mean())
    assert meadow_share is not None and meadow_share >= 0.3


def test_shaded_grass_joined_to_a_glare_does_not_teach_the_sky_model():
    """meadow_dandelions_01 cropped to its centre: the top rows are a glare, and the blurred meadow below is joined
    to them without an edge, so its colours taught the sky model and 78 % of the land moved. Shaded grass is no sky
    colour now, nor a lake where its stalks repeat about a row as a rippled reflection's do (35 % before that); the
    white seed heads under the glare still pass for cloud (20 %)."""
    assert _region_scores("meadow_dandelions_01", "inner").land_in_mask <= 0.25


@pytest.mark.parametrize("name", ["city_skyline_dusk_01", "mountains_clouds_02"])
def test_a_photo_cut_below_the_sky_does_not_teach_the_sky_model_its_land(name):
    """Two labelled photos without their top third (the 'lower' variant): towers or a rock face fill much of the top
    rows, which are taken for clear sky. The clear sky is flooded on from them wherever no edge stops it, and from
    rough land that flood reached the smooth land beyond it (a lit plaza, snow) and taught the sky model its
    colours: 56 % and 39 % of the land moved. Paths of clear sky now never run through pixels as rough as land."""
    assert _region_scores(name, "lower").land_in_mask <= 0.02


@pytest.mark.parametrize(
    ("name", "box"),
    [
        ("valley_village_01", (8, 163, 694, 479)),  # a village under a forested slope: 10.6 % of the land moved
        ("river_aqueduct_01", (74, 187, 542, 506)),  # the aqueduct's pale arches: 10.9 %
        ("meadow_dandelions_01", (56, 116, 859, 511)),  # seed heads in the grass: 15.7 %
    ],
)
def test_a_photo_cut_below_its_sky_moves_nothing_and_says_why(name, box):
    """Cropped below the sky, a photo's top rows are land, and they teach the sky model: with no clear sky among
    them, pale stone, dark forest or white seed heads passed for cloud. Such a top band is now told by how little of
    it looks like clear sky or white cloud, and by its colour; the segmenter says so instead of moving the land."""
    photo, labels = crop_labelled(*_labelled_photo(name), box)
    result = region_segment(photo)
    assert score_movable_mask(result.dynamic_mask, labels, sky=result.sky_mask).land_in_mask == 0
    assert result.uncertainty is not None and "almost no sky" in result.uncertainty


def test_a_low_crop_with_a_band_of_sunset_sky_still_moves():
    """lake_boats_sunset_01 cropped to the lake with a band of sunset sky over the far hills (7 % of the crop): of
    the labelled forms and crops with sky, one of the least clear top bands (0.19 clear sky or white cloud, the rule
    stops below 0.15), and its sky still moves."""
    scores = _cropped_scores("lake_boats_sunset_01", (84, 132, 817, 509))
    assert scores.sky_iou is not None and scores.sky_iou >= 0.95
    assert scores.land_in_mask <= 0.02


def test_dark_hills_fading_into_a_grey_sky_do_not_teach_the_sky_model():
    """sunbeams_hills_01 cropped below the sun: grey clouds over dark wooded hills in shade that fade into them
    without an edge. The clear sky was flooded on into the hills, their near-black taught the sky model, and 97 % of
    the land moved (sky IoU 0.43). Paths of clear sky no longer fall far below the darkest of the top rows."""
    scores = _cropped_scores("sunbeams_hills_01", (86, 127, 560, 485))
    assert scores.land_in_mask <= 0.02
    assert scores.sky_iou >= 0.95


def test_a_reed_bed_in_a_lake_taken_for_sky_stays_still():
    """lake_reeds_dusk_01 cropped to the lake and a little of its sky: no waterline is found, so the calm lake, in
    the sky's colours, runs on from the sky as sky. Reed beds were looked for in the water only, so the dense bed at
    the right moved with the lake (43 % of the land)."""
    assert _cropped_scores("lake_reeds_dusk_01", (111, 116, 612, 457)).land_in_mask <= 0.02


def test_the_segmenter_has_no_left_right_bias():
    """lake_dock_01 and its mirror image: a narrow rise of the sky's border into the clouds is lowered when its
    colour is the sky's beside it, and the sky beside was looked at one column further on the left than on the
    right. In the photo as shot, a pillar of cloud stayed still (sky IoU 0.856); mirrored, it moved (0.875)."""
    original, mirrored = _region_scores("lake_dock_01"), _region_scores("lake_dock_01", "mirrored")
    assert original.sky_iou == pytest.approx(mirrored.sky_iou, abs=1e-9)
    assert original.land_in_mask == pytest.approx(mirrored.land_in_mask, abs=1e-9)
    assert original.sky_iou >= 0.87


@pytest.mark.parametrize("exposure", ["as shot", "darker", "brighter"])
def test_a_sunset_against_the_light_moves_its_clouds_and_layered_hills_in_haze_stay(exposure):
    """Two photos with a black foreground. sunset_clouds_hills_01's silhouette stands against a lit sky, so its
    warm grey clouds move (sky IoU 0.34, 8 % of the clouds, before), however it is exposed: dark and lit are told
    relative to the photo's upper half (with fixed levels, 0.7 times the brightness left it at sky IoU 0.70). Above
    sunbeams_hills_01's black foreground lie dim hills in haze: its outline does not stand against light, and the
    hills stay (5 % of the land moved when any black foreground counted)."""
    photo, labels = _labelled_photo("sunset_clouds_hills_01")
    scale = {"as shot": 1.0, "darker": 0.7, "brighter": 1.3}[exposure]
    result = region_segment(_to_uint8(scale * np.asarray(photo, dtype=np.float32) / 255.0))
    scores = score_movable_mask(result.dynamic_mask, labels, sky=result.sky_mask)
    assert scores.sky_iou >= 0.95 and scores.cloud_included >= 0.95 and scores.land_in_mask <= 0.001
    assert _region_scores("sunbeams_hills_01").land_in_mask <= 0.02


def test_a_black_bar_along_the_bottom_is_not_a_silhouette():
    """A caption bar or a one-sided letterbox along the bottom is black and outlined against the lit photo, but on one
    row: the dunes above it stay (75 % of desert_dune_01's land moved when the bar counted as a silhouette)."""
    photo, labels = _labelled_photo("desert_dune_01")
    values = np.asarray(photo).copy()
    bar = round(0.12 * values.shape[0])
    values[-bar:] = 0
    result = region_segment(values)
    land = labels.land & labels.scored
    land[-bar:] = False
    assert (result.dynamic_mask[land] >= 0.5).mean() <= 0.02


def test_land_in_deep_shade_below_sunlit_land_is_not_a_silhouette():
    """desert_dune_01 with the lower part of its land in deep shade (0.15 of its light): as dark, against the upper
    half, as a silhouette, and outlined against the sunlit dunes. But land in shade keeps some light and a
    silhouette against the sun is black, so nothing changes: the sunlit dunes stay (84 % of them moved when the
    shade counted as a silhouette)."""
    photo, labels = _labelled_photo("desert_dune_01")
    values = np.asarray(photo, dtype=np.float32) / 255.0
    shade = labels.land & (np.arange(values.shape[0])[:, None] >= 0.7 * values.shape[0])
    values[shade] *= 0.15
    result = region_segment(_to_uint8(values))
    sunlit = labels.land & labels.scored & ~shade
    assert (result.dynamic_mask[sunlit] >= 0.5).mean() <= 0.02


def test_no_sky_below_a_far_shore_that_thins_for_a_stretch():
    """lake_boats_sunset_01: the far shore is a dark band across the photo, lower and lighter for a stretch where it
    meets the sunset's glow, and the lake below mirrors the sky. The border dove through that stretch into the lake,
    and a strip of it (613 px at 512 px wide) moved with the sky, a rectangle drifting between the boats; the band
    now goes on across the stretch."""
    photo, labels = _labelled_photo("lake_boats_sunset_01")
    result = region_segment(photo)
    far_edge_of_the_lake = int(np.flatnonzero(labels.water.any(axis=1))[0])
    assert result.sky_mask[far_edge_of_the_lake:].max() == 0


@pytest.mark.parametrize("width", [512, 640, 819])
def test_a_sea_behind_grass_stalks_is_found_at_any_size(width):
    """dune_grass_sea_01 resized: stalks in front of the sea roughen 30 % of it, and at 512 and 640 px wide the share
    of smooth sea under its horizon fell just under what a sea needed (0.695 of 0.7), so the sea stayed still. The
    sea is now told by its colours (98 % in the sky's) with a looser share for its smoothness."""
    photo, labels = _labelled_photo("dune_grass_sea_01")
    photo = photo.resize((width, round(photo.height * width / photo.width)), Image.Resampling.LANCZOS)
    water = labels.water & labels.scored
    water = np.asarray(Image.fromarray(water).resize(photo.size, Image.Resampling.NEAREST))
    assert (region_segment(photo).water_mask[water] >= 0.5).mean() >= 0.65  # 0.71 now; 0.15 at 512 and 640 before


def test_a_pillar_of_glow_between_clouds_is_sky_and_a_tree_crown_is_not():
    """A border at the coarse size (160 x 256) over sunset glow, dark hills from row 60, rising to row 30 over five
    columns. In the glow's colours, that tower is glow between two clouds, which the border search
    left with the land (a still pillar among moving clouds in lake_boats_sunset_01 at 1024 px): it goes to the sky.
    In the hills' colours it is a tree crown, and stays; so does a tower whose pixels are clearly land."""
    glow, hills = np.array([0.95, 0.65, 0.3]), np.array([0.1, 0.12, 0.08])
    rgb = np.empty((160, 256, 3))
    rgb[:60], rgb[60:] = glow, hills
    border = np.full(256, 60)
    border[100:105] = 30
    costs = np.full((160, 256), 1.0)
    assert (_without_towers_of_sky(border, rgb, costs)[100:105] == 60).all()
    crown = rgb.copy()
    crown[30:60, 100:105] = hills
    assert (_without_towers_of_sky(border, crown, costs)[100:105] == 30).all()
    clearly_land = costs.copy()
    clearly_land[30:60, 100:105] = 3.0
    assert (_without_towers_of_sky(border, rgb, clearly_land)[100:105] == 30).all()
    tall = border.copy()
    tall[100:105] = 0  # up to the top of the photo: a tree or a wall in front of the sky
    assert (_without_towers_of_sky(tall, rgb, costs)[100:105] == 0).all()


def test_a_land_band_goes_on_across_a_short_stretch_where_it_thins_but_not_across_a_valley():
    """Border costs (160 x 256, the coarse size) with a level band of land at rows 50-57. Where it thins for a few
    columns, it still ends the sky there; a gap of a fifth of the width is a valley, whose sky goes on down; and
    pieces of a band that are each too narrow to cut (a reed here, a post there) cut nothing, however close."""
    costs = np.full((160, 256), -1.0)
    costs[50:58] = 3.0
    intact = _first_land_band(costs)[100]
    costs[54, 100:112] = 1.0  # a stretch where the band is thinner than a band
    assert (_first_land_band(costs)[95:117] == intact).all()  # before: 160 (no cut) at 100-111
    costs[50:58, 100:152] = -1.0  # a valley a fifth of the width wide
    assert (_first_land_band(costs)[110:140] == 160).all()
    costs = np.full((160, 256), -1.0)
    for start in range(0, 256, 30):  # 24-column pieces (each under the band's width) 6 columns apart
        costs[50:58, start : start + 24] = 3.0
    assert (_first_land_band(costs) == 160).all()


def test_a_kite_in_a_small_copy_of_the_photo_stays_still():
    """sky_kite_01 at 320 px (the 'small' variant): the rules that cut objects out of the sky count pixels, so a
    small photo is enlarged first. Before, the kite flew off with the sky (100 % of its pixels moved)."""
    scores = _region_scores("sky_kite_01", "small")
    assert scores.land_in_mask <= 0.02
    assert scores.sky_iou >= 0.95


def _toned(photo: Image.Image, tone: str) -> Image.Image:
    """The photo in black and white, or toned sepia (each channel a different curve of the brightness)."""
    grey = np.asarray(photo.convert("L"), dtype=np.float64) / 255
    if tone == "grey":
        channels = [grey] * 3
    else:
        channels = [grey * 1.07 + 0.05, grey * 0.95 + 0.02, grey * 0.75]
    return Image.fromarray(_to_uint8(np.stack(channels, axis=-1)))


@pytest.mark.parametrize(
    "name, tone, land_before",
    [("mountains_clouds_01", "grey", 40), ("hills_tea_garden_01", "grey", 22), ("beach_bridge_01", "sepia", 70)],
)
def test_a_black_and_white_or_toned_photo_keeps_its_sky_and_moves_no_land(name, tone, land_before):
    """Without colour a grey hillside, a beach or a far mountain has the colours the water search looks for (those
    of the sky above it): in black-and-white copies of labelled photos, that much of the land (%) moved as water.
    Water now stays still in such a photo, the sky (clouds included) still moves, and the verdict says why."""
    photo, labels = _labelled_photo(name)
    result = region_segment(_toned(photo, tone))
    scores = score_movable_mask(result.dynamic_mask, labels, sky=result.sky_mask)
    assert scores.land_in_mask <= 0.02, f"{land_before} % of the land moved before"
    assert scores.sky_iou >= 0.9
    assert result.water_mask.max() == 0
    assert "no colour" in (result.uncertainty or "")


def test_a_black_and_white_forest_has_no_sky():
    """The top of a forest photo is trunks against bright gaps. In colour the leaves tell it is not sky; in black
    and white only its roughness does (96 % of the land moved before)."""
    photo, labels = _labelled_photo("forest_path_01")
    result = region_segment(_toned(photo, "grey"))
    assert result.dynamic_mask.max() == 0
    assert "rough throughout" in (result.uncertainty or "")


@pytest.mark.parametrize(
    ("zenith", "horizon", "cloudlet"),
    [
        ((0.25, 0.45, 0.85), (0.55, 0.7, 0.95), (0.97, 0.96, 0.95)),  # white cloudlets on blue
        ((0.3, 0.32, 0.38), (0.45, 0.47, 0.5), (0.6, 0.6, 0.62)),  # grey ones under a storm
    ],
)
def test_a_dense_mackerel_sky_in_colour_moves(zenith, horizon, cloudlet):
    """Small cloudlets packed over the sky are as rough along the top of the photo as a forest's trunks; in colour
    they are no leaves, and the whole sky moves (with roughness alone taken for trunks, none of it did). Nor are they
    land cut below the sky: that is rough and coloured, and they are white or grey."""
    height, width, ground = 432, 768, 324
    rng = np.random.default_rng(0)
    t = (np.arange(height) / height)[:, None, None]
    sky = (np.array(zenith) * (1 - t) + np.array(horizon) * t) * np.ones((1, width, 1))
    pattern = ndimage.gaussian_filter(rng.normal(size=(height, width)), 2.5)
    cover = np.clip((pattern / pattern.std() - 0.3) / 0.3 + 0.5, 0.0, 1.0)[..., None] * 0.9
    image = sky * (1 - cover) + np.array(cloudlet) * cover
    image[ground:] = np.array([0.25, 0.32, 0.15]) + 0.06 * rng.normal(size=(height - ground, width, 3))
    result = region_segment(_to_uint8(image))
    assert result.uncertainty is None
    assert (result.dynamic_mask[:ground] >= 0.5).mean() >= 0.98
    assert (result.dynamic_mask[ground + 3 :] >= 0.5).mean() == 0


def test_colour_method_and_bad_method():
    lake, _, water = _lake()
    assert heuristic_sky_mask(lake, method="colour").shape == lake.shape[:2]
    assert _iou(heuristic_segment(lake, method="colour").water_mask, water) >= 0.8
    with pytest.raises(ValueError, match="region, colour"):
        heuristic_segment(lake, method="magic")


# ----------------------------------------------------------------------------------------------------------------------
# The pipeline: fallback, uncertainty warning, a painted mask always wins


@pytest.fixture(scope="module")
def pipe():
    from test_pipeline import TINY_PRESETS, build_models

    from deeplandscape_hf.animation.pipeline import DeepLandscapePipeline, PipelineConfig

    generator, encoder, dynamics = build_models()
    config = PipelineConfig(presets=TINY_PRESETS, default_preset="fast", segmenter="deeplandscape-test/no-segmenter")
    return DeepLandscapePipeline(generator, encoder, dynamics, config)


def test_pipeline_falls_back_to_the_region_segmenter_with_a_warning(pipe, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    image, sky, _ = _clouds_over_hills()
    with pytest.warns(UserWarning, match="The segmentation model could not be loaded.*offline sky-region") as caught:
        found = pipe.segment(image)
    # The warning gives the cause and its own advice, not the error's advice to use the fallback it already uses.
    warning = str(caught[0].message)
    assert "'deeplandscape-test/no-segmenter':" in warning and "hf download deeplandscape-test/no-segmenter" in warning
    assert "Supply a mask instead" not in warning and "Without it" not in warning
    assert _iou(found.dynamic_mask, sky) >= 0.95 and found.confidence.shape == sky.shape
    with pytest.raises(SegmenterUnavailableError, match="heuristic"):
        pipe.segment(image, segmentation="model")


def test_pipeline_warns_when_the_mask_is_uncertain(pipe):
    with pytest.warns(UserWarning, match="mask is uncertain.*paint a mask"):
        found = pipe.segment(_fog(0.7), segmentation="heuristic")
    assert found.dynamic_mask.max() == 0


def test_a_painted_mask_always_wins(pipe, monkeypatch):
    from deeplandscape_hf.animation import segmentation

    def no_segmentation(*args, **kwargs):
        raise AssertionError("segmentation ran although a mask was given")

    monkeypatch.setattr(segmentation, "heuristic_segment", no_segmentation)
    monkeypatch.setattr(segmentation, "SkySegmenter", no_segmentation)
    image, _, _ = _clouds_over_hills(40, 48)
    painted = np.zeros((40, 48), np.float32)
    painted[5:15, 10:30] = 1.0  # deliberately not the sky
    inverted = pipe.invert(Image.fromarray(image), mask=painted, perceptual=tiny_perceptual_loss)
    assert np.array_equal(inverted.dynamic_mask, painted)


def tiny_perceptual_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (prediction - target).abs().flatten(1).mean(1)


# ----------------------------------------------------------------------------------------------------------------------
# Hand-drawn labels and their scores


def test_labels_render_and_score(tmp_path):
    labels = {
        "photo": "x.jpg",
        "size": [40, 30],
        "shapes": [
            {"label": "sky", "polygon": [[0, 0], [40, 0], [40, 10], [0, 10]]},
            {"label": "static", "line": [[0, 5], [40, 5]], "width": 2},
            {"label": "water", "polygon": [[0, 20], [40, 20], [40, 30], [0, 30]]},
            {"label": "ignore", "polygon": [[30, 20], [40, 20], [40, 30], [30, 30]]},
            {"label": "cloud", "polygon": [[0, 0], [10, 0], [10, 3], [0, 3]]},
        ],
    }
    truth = render_labels(labels)
    assert truth.sky.sum() == 40 * 11 - 40 * 2  # polygons include their edges; the 2 px cable is cut out
    assert truth.water[20:, :30].all() and not truth.scored[20:, 31:].any()
    assert truth.cloud.sum() == 11 * 4 and truth.has_water
    assert not truth.scored[5, 20] and truth.scored[0, 20]  # next to a drawn border: not scored
    perfect = score_movable_mask((truth.sky | truth.water).astype(np.float32), truth, sky=truth.sky.astype(np.float32))
    assert perfect.sky_iou == 1.0 and perfect.water_iou == 1.0 and perfect.land_in_mask == 0.0
    assert perfect.cloud_included == 1.0
    everything = score_movable_mask(np.ones((30, 40), np.float32), truth)
    assert everything.land_in_mask == 1.0 and everything.water_iou is None
    assert abs(render_labels(labels, size=(80, 60)).sky.sum() / truth.sky.sum() - 4) < 0.3  # drawn at 40 x 30
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"size": [40, 30], "shapes": [{"label": "lava", "polygon": [[0, 0], [1, 1], [2, 0]]}]}))
    with pytest.raises(ValueError, match="label must be one of"):
        render_labels(path)


def test_every_labelled_photo_has_its_photo_its_size_and_its_source():
    """The mask benchmark's files agree: each label file names a photo in examples/ or benchmarks/mask_photos at the
    size it was drawn at, each benchmark photo has a label file and a row in SOURCES.md (licenses)."""
    repo = Path(__file__).resolve().parents[1]
    folders = (repo / "examples", repo / "benchmarks" / "mask_photos")
    photos = {path.name: path for folder in folders for path in folder.glob("*.jpg")}
    labels = {path: json.loads(path.read_text()) for path in (repo / "benchmarks" / "mask_labels").glob("*.json")}
    assert len(labels) >= 30
    for path, data in labels.items():
        assert data["photo"] in photos, f"{path.name} names a missing photo"
        with Image.open(photos[data["photo"]]) as photo:
            assert list(photo.size) == data["size"], path.name
    labelled = {data["photo"] for data in labels.values()}
    sources = (folders[1] / "SOURCES.md").read_text()
    for photo in folders[1].glob("*.jpg"):
        assert photo.name in labelled and f"| {photo.name} |" in sources, photo.name


def test_evaluate_masks_command_scores_the_labelled_examples(capsys):
    from deeplandscape_hf.cli import main

    repo = Path(__file__).resolve().parents[1]
    photo = repo / "examples" / "castle_hills_01.jpg"
    code = main(
        [
            "evaluate",
            "masks",
            str(photo),
            "--labels",
            str(repo / "benchmarks" / "mask_labels"),
            "--methods",
            "region,colour",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    region_row = next(line for line in out.splitlines() if line.startswith("| castle_hills_01 | region"))
    sky_iou, _, land_percent = (cell.strip() for cell in region_row.split("|")[3:6])
    assert float(sky_iou) >= 0.9 and float(land_percent) <= 2.0
    assert "(median)" in out and "land in mask" in out


def test_photo_variants_move_the_labels_with_the_photo():
    """Each variant transforms the photo and its labels alike: a sky label over the blue half stays over it."""
    height, width = 200, 400
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 4] = (40, 90, 200)  # blue on the left quarter only
    sky = np.zeros((height, width), bool)
    sky[:, : width // 4] = True
    labels = LabelMasks(sky=sky, water=np.zeros_like(sky), cloud=np.zeros_like(sky), scored=np.ones_like(sky))
    for name, transform in PHOTO_VARIANTS.items():
        photo, moved = transform(Image.fromarray(image), labels)
        pixels = np.asarray(photo).astype(int)
        assert moved.sky.shape == pixels.shape[:2] == moved.scored.shape, name
        blue = pixels[..., 2] > 100 if name != "greyscale" else pixels[..., 0] > 60
        assert (blue == moved.sky).mean() >= 0.99, name
    mirrored = PHOTO_VARIANTS["mirrored"](Image.fromarray(image), labels)[1]
    assert mirrored.sky[:, -1].all() and not mirrored.sky[:, 0].any()
    assert PHOTO_VARIANTS["inner"](Image.fromarray(image), labels)[0].size == (336, 156)
    assert max(PHOTO_VARIANTS["small"](Image.fromarray(image), labels)[0].size) == 320
    assert PHOTO_VARIANTS["portrait"](Image.fromarray(image), labels)[0].size == (112, 200)
    assert PHOTO_VARIANTS["lower"](Image.fromarray(image), labels)[0].size == (400, 133)
    grey = np.asarray(PHOTO_VARIANTS["greyscale"](Image.fromarray(image), labels)[0])
    assert (grey.max(axis=-1) == grey.min(axis=-1)).all()


def test_random_crops_are_fixed_per_photo_name_and_move_the_labels_alike():
    """crop1 .. crop4 cut each photo at a random place, each side 60-95 % of the photo's: the same crop for the same
    name and number on every run and machine, other crops for other names and numbers, and the labels cut with the
    photo."""
    height, width = 200, 400
    rows, columns = np.mgrid[:height, :width]
    image = np.stack([columns % 256, columns // 256, rows], axis=-1).astype(np.uint8)  # each pixel names its place
    sky = rows < height // 2
    labels = LabelMasks(sky=sky, water=np.zeros_like(sky), cloud=np.zeros_like(sky), scored=np.ones_like(sky))
    photo = Image.fromarray(image)
    crops = {}
    for stem in ("lake", "hills"):
        for number in range(1, 5):
            cropped, moved = photo_variant(f"crop{number}", stem, photo, labels)
            pixels = np.asarray(cropped)
            assert 0.6 * width - 1 <= cropped.width <= 0.95 * width + 1
            assert 0.6 * height - 1 <= cropped.height <= 0.95 * height + 1
            left, top = int(pixels[0, 0, 0]) + 256 * int(pixels[0, 0, 1]), int(pixels[0, 0, 2])
            np.testing.assert_array_equal(pixels, image[top : top + cropped.height, left : left + cropped.width])
            np.testing.assert_array_equal(moved.sky, sky[top : top + cropped.height, left : left + cropped.width])
            crops[stem, number] = (left, top, cropped.size)
    assert len(set(crops.values())) == len(crops)
    # Pinned: the README's crop figures hold only while every machine cuts the same crops.
    assert crops["lake", 3] == (26, 8, (374, 158))


def test_evaluate_masks_scores_variants_of_each_photo_with_their_labels_moved_alike(capsys):
    """--variants scores each photo also mirrored, in grey, small and cropped to its centre, its labels transformed
    alike. The segmenter has no left-right bias, so the mirrored row scores as the original one; the cropped and the
    small photo keep their sky; a name that is not a variant is an error."""
    from deeplandscape_hf.cli import main

    repo = Path(__file__).resolve().parents[1]
    photo = str(repo / "examples" / "castle_hills_01.jpg")
    labels = str(repo / "benchmarks" / "mask_labels")
    variants = "original,mirrored,greyscale,small,inner,crop1"
    assert main(["evaluate", "masks", photo, "--labels", labels, "--methods", "region", "--variants", variants]) == 0
    table = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| castle_hills_01")]
    rows = {cells[2].strip(): [cells[index].strip() for index in (3, 5)] for cells in table}
    names = {"region", "region, mirrored", "region, greyscale", "region, small", "region, inner", "region, crop1"}
    assert set(rows) == names
    original, mirrored = (np.array(rows[name], dtype=float) for name in ("region", "region, mirrored"))
    np.testing.assert_allclose(mirrored, original, atol=0.01)
    for name in ("region, small", "region, inner"):
        assert float(rows[name][0]) >= 0.9 and float(rows[name][1]) <= 2.0
    code = main(["evaluate", "masks", photo, "--labels", labels, "--methods", "region", "--variants", "upside-down"])
    captured = capsys.readouterr()
    assert code != 0 and "unknown variant upside-down" in captured.out + captured.err


def test_offline_segmenter_on_all_labelled_photos(capsys):
    """The whole labelled set (examples and benchmark photos): the offline segmenter keeps its measured level. Floors
    sit a little under what it scores now (sky IoU median 0.988 and at least 0.75 on 29 of 30, water IoU at least 0.7
    on 7 of the 13 with water), so a change that loses clouds or water on several photos fails here; land inside the
    movable mask is at most 2 % on every photo, as the target asks."""
    from deeplandscape_hf.cli import main

    repo = Path(__file__).resolve().parents[1]
    folders = [str(repo / "examples"), str(repo / "benchmarks" / "mask_photos")]
    labels = str(repo / "benchmarks" / "mask_labels")
    assert main(["evaluate", "masks", *folders, "--labels", labels, "--methods", "region"]) == 0
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    scored = {cells[1].strip(): cells for cells in rows[2:] if not cells[1].strip().startswith("(")}
    assert len(scored) >= 31
    sky = [float(cells[3]) for cells in scored.values() if cells[3].strip() != "n/a"]
    land = [float(cells[5]) for cells in scored.values()]
    water = [float(cells[4]) for cells in scored.values() if cells[4].strip() != "n/a"]
    assert np.median(sky) >= 0.95
    assert sum(value >= 0.75 for value in sky) >= len(sky) - 1
    assert max(land) <= 2.0
    assert sum(value >= 0.7 for value in water) >= 6  # 7 of 13 now: seas, pools, and lakes found by their mirror images
    assert float(scored["mountains_overcast_01"][5]) <= 1.0  # a hazy ridge behind its skyline stays still
    assert float(scored["colosseum_clouds_01"][3]) >= 0.95  # sky beside a wall is sky, not water
    assert float(scored["hills_sunset_01"][6]) >= 90.0  # clouds lit cream by a low sun are clouds (46 % without that)
    assert float(scored["castle_hills_01"][6]) >= 90.0  # a crisp cumulus's outline moves with it (63 % before)
    assert float(scored["storm_plain_01"][5]) <= 2.0  # no mirror image, too dark for water (24 %, 6.7 %)
    assert float(scored["storm_plain_01"][3]) >= 0.95  # a storm front in the road's colours is sky (0.90 before)
    assert float(scored["lake_reeds_dusk_01"][5]) <= 2.0  # reeds in the lake stay still (62 % without, 7 % w/o fringe)
    assert float(scored["lake_dock_01"][3]) >= 0.85  # half-lit clouds the clear sky wraps round are sky (0.77 before)


def test_rippled_reflections_join_the_pool_and_a_pier_across_the_waterline_stays_still(capsys):
    """Two labelled photos: the temple pool's rippled reflections are water (they mirror no shape, only colours), and
    the foggy pier, which has its own colours on both sides of the waterline, stays land."""
    from deeplandscape_hf.cli import main

    repo = Path(__file__).resolve().parents[1]
    photos = [str(repo / "examples" / f"{name}.jpg") for name in ("temple_pool_01", "lake_pier_fog_01")]
    labels = str(repo / "benchmarks" / "mask_labels")
    assert main(["evaluate", "masks", *photos, "--labels", labels, "--methods", "region"]) == 0
    table = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    rows = {cells[1].strip(): cells for cells in table}
    temple_water, temple_land = float(rows["temple_pool_01"][4]), float(rows["temple_pool_01"][5])
    assert temple_water >= 0.65 and temple_land <= 1.0
    assert float(rows["lake_pier_fog_01"][5]) <= 1.0
