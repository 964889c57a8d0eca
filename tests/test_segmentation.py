"""Sky/water segmentation: real transformers loading of a tiny SegFormer, class choice by name, the official
movable rule, offline errors, mask helpers and the explicit heuristic fallback."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from deeplandscape_hf.animation.segmentation import (
    SegmentationResult,
    SegmenterUnavailableError,
    SkySegmenter,
    erode,
    feather,
    heuristic_segment,
    heuristic_sky_mask,
    horizon_from_sky_mask,
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


def _synthetic_lake(height: int = 120, width: int = 160, shore_rows: int = 10) -> np.ndarray:
    """Smooth blue sky (rows 0-49), a textured dark shore (rows 50 to 49 + shore_rows), and below it the sky mirrored,
    darker, as water."""
    rng = np.random.default_rng(0)
    image = np.zeros((height, width, 3), np.float32)
    t = np.linspace(0, 1, 50)[:, None]
    image[:50] = np.stack([0.35 + 0.25 * t, 0.55 + 0.2 * t, 0.95 - 0.05 * t], -1)  # deep to pale blue
    image[50 : 50 + shore_rows] = rng.uniform(0.05, 0.35, (shore_rows, width, 3)) * np.array([0.6, 1.0, 0.5])
    for row in range(50 + shore_rows, height):
        mirror = 98 - row  # reflection about the horizon row 49
        image[row] = image[max(mirror, 0)] * 0.8
    return (image * 255).round().astype(np.uint8)


def test_heuristic_finds_sky_and_its_reflection():
    lake = _synthetic_lake()
    sky = heuristic_sky_mask(lake)
    assert sky.shape == (120, 160)
    assert sky[:45].mean() > 0.95 and sky[55:].mean() < 0.05
    result = heuristic_segment(lake)
    assert result.label_names == {0: "other", 1: "sky", 2: "water"}
    assert result.water_mask[65:].mean() > 0.8 and result.water_mask[:55].max() == 0
    assert result.dynamic_mask[52:58].mean() < 0.1  # the shore stays still
    assert 0.45 <= result.horizon <= 0.55


def test_heuristic_keeps_sky_cut_off_by_a_power_line():
    """A dark wire across the whole width must not turn the sky below it into land."""
    height, width = 120, 160
    image = np.zeros((height, width, 3), np.float32)
    t = np.linspace(0, 1, 80)[:, None]
    image[:80] = np.stack([0.35 + 0.25 * t, 0.55 + 0.2 * t, 0.95 - 0.05 * t], -1)
    image[80:] = np.random.default_rng(0).uniform(0.1, 0.4, (40, width, 3)) * np.array([0.6, 1.0, 0.4])
    rows, cols = np.mgrid[:height, :width]
    sag = 25 + 0.002 * (cols - 80) ** 2  # a sagging line from row 38 at the edges to row 25 in the middle
    wire = np.abs(rows - sag) < 1.5  # 3 px thick
    image[wire] = 0.15
    sky = heuristic_sky_mask((image * 255).round().astype(np.uint8))
    below_wire = (rows > sag + 6) & (rows < 75)
    assert sky[below_wire].mean() > 0.95
    assert sky[wire].mean() < 0.5  # the wire itself stays still
    assert sky[85:].max() == 0
    # A lake across a shore as thin as that wire is not sky: it starts below the sky line and is darker.
    thin_shore = heuristic_segment(_synthetic_lake(shore_rows=3))
    assert thin_shore.sky_mask[56:].max() == 0 and thin_shore.water_mask[60:].mean() > 0.8


def test_heuristic_on_a_real_photo(landscape_photos):
    photo = next((p for p in landscape_photos if "beach_bridge" in p.name), landscape_photos[0])
    result = heuristic_segment(photo)
    height = result.sky_mask.shape[0]
    assert result.sky_mask[: height // 5].mean() > result.sky_mask[-height // 5 :].mean()
    assert result.dynamic_mask.shape == result.labels.shape
