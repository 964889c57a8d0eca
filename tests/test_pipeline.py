"""DeepLandscapePipeline end to end on tiny random models saved in the hub layout (pipeline.py, compositing.py)."""

import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from deeplandscape_hf import DeepLandscapeGenerator, GeneratorConfig
from deeplandscape_hf.animation.compositing import Compositor, crop_mask
from deeplandscape_hf.animation.images import InvalidImageError, official_resize_and_crop
from deeplandscape_hf.animation.inversion import InversionSettings, PerceptualTerm
from deeplandscape_hf.animation.pipeline import DeepLandscapePipeline, PipelineConfig
from deeplandscape_hf.motion.styles import style_level_indices
from deeplandscape_hf.networks.dynamics import DynamicsConfig, StyleDynamicsNet
from deeplandscape_hf.networks.encoder import DeepLandscapeEncoder, EncoderConfig
from deeplandscape_hf.networks.layers import NoiseInjection

RESOLUTION = 16
TINY_PRESETS = {
    "fast": {"optimization_iterations": 6, "fine_tune_iterations": 4, "render_batch_size": 4},
    "balanced": {"optimization_iterations": 8, "fine_tune_iterations": 6, "render_batch_size": 3},
}


def tiny_perceptual(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (F.avg_pool2d(prediction, 2) - F.avg_pool2d(target, 2)).abs().flatten(1).mean(1)


def build_models(seed: int = 0):
    torch.manual_seed(seed)
    generator = DeepLandscapeGenerator(
        GeneratorConfig(
            resolution=RESOLUTION, channels=[16, 16, 8], z_dim=32, w_dim=16, mapping_layers=2, fused_from_resolution=16
        )
    )
    with torch.no_grad():
        for module in generator.modules():
            if isinstance(module, NoiseInjection):
                module.weight.normal_(0, 0.5)
        generator.w_avg.copy_(generator.map(torch.randn(256, 32)).mean(0))
    encoder = DeepLandscapeEncoder(
        EncoderConfig(backbone="resnet18", num_levels=3, w_dim=16, hidden=32, pretrained_backbone=False, image_size=32)
    )
    encoder.set_output_bias(generator.w_avg)
    dynamics = StyleDynamicsNet(DynamicsConfig(w_dim=16, z_dynamic_dim=3, depth=2))
    return generator, encoder, dynamics


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """Tiny G + E + A written by save_pretrained in the hub layout."""
    generator, encoder, dynamics = build_models()
    config = PipelineConfig(presets=TINY_PRESETS, default_preset="fast", num_frames=5, feather_px=2.0)
    folder = tmp_path_factory.mktemp("model")
    DeepLandscapePipeline(generator, encoder, dynamics, config).save_pretrained(folder)
    return folder


@pytest.fixture
def pipe(model_dir):
    pipeline = DeepLandscapePipeline.from_pretrained(model_dir)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def make_photo(width: int = 48, height: int = 40) -> Image.Image:
    """Sky (blue gradient) over green land with some texture: a landscape a 16 px model can chew on."""
    rng = np.random.default_rng(0)
    image = np.zeros((height, width, 3), dtype=np.uint8)
    horizon = height // 2
    rows = np.linspace(150, 230, horizon)[:, None]
    image[:horizon, :, 0] = 90
    image[:horizon, :, 1] = (rows * 0.8).astype(np.uint8)
    image[:horizon, :, 2] = rows.astype(np.uint8)
    image[horizon:] = (40, 120, 50) + rng.integers(0, 30, size=(height - horizon, width, 3))
    return Image.fromarray(image)


def sky_mask(width: int = 48, height: int = 40) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.float32)
    mask[: height // 2] = 1.0
    return mask


def call(pipe, photo=None, **kwargs):
    arguments = dict(
        mask=sky_mask(),
        perceptual=tiny_perceptual,
        generator=torch.Generator().manual_seed(0),
        num_frames=4,
    )
    arguments.update(kwargs)
    return pipe(make_photo() if photo is None else photo, **arguments)


def test_roundtrip_and_output(pipe, model_dir):
    saved = json.loads((model_dir / "pipeline.json").read_text())
    assert saved["presets"]["fast"]["optimization_iterations"] == 6
    assert pipe.encoder is not None and pipe.dynamics is not None and pipe.config.resolution == RESOLUTION
    out = call(pipe)
    assert len(out.frames) == 4 and all(frame.size == (48, 40) for frame in out.frames)
    assert out.mask.size == (48, 40) and out.mask.mode == "L"
    assert out.reconstruction.size == (RESOLUTION, RESOLUTION)
    assert out.latents["w_plus"].shape == (1, 6, 16)
    assert [d.shape[-1] for d in out.latents["dynamic_noise"]] == [4, 8, 16]
    assert out.fps == 30 and out.mode == "eoifs" and not out.cache_hit
    for stage in ("segmentation", "encode", "optimization", "fine_tune", "inversion", "render", "total"):
        assert stage in out.timings
    assert out.losses["fine_tune_l1"] < out.losses["encoder_l1"]


def test_fine_tuning_leaves_the_loaded_generator_alone(pipe):
    before = {k: v.clone() for k, v in pipe.generator.state_dict().items()}
    call(pipe)
    assert all(torch.equal(v, before[k]) for k, v in pipe.generator.state_dict().items())


def test_composite_keeps_static_pixels_exactly(pipe):
    photo = make_photo()
    out = call(pipe, photo=photo, num_frames=5, motion="m12", speed=4.0)
    frames = np.stack([np.asarray(frame) for frame in out.frames])
    alpha = np.asarray(out.mask)
    static = alpha == 0
    assert static.sum() > 0.4 * static.size  # land, away from the feather band
    assert (frames[:, static] == np.asarray(photo)[static]).all()
    moving = alpha == 255
    assert moving.any()
    assert np.abs(frames[1:, moving].astype(int) - frames[0, moving]).max() > 0  # the sky moves


def test_compositor_box_and_feather():
    photo = make_photo(60, 30)
    crop, box = official_resize_and_crop(photo, RESOLUTION)
    assert box.left > 0  # a wide photo: the generator sees the centre square only
    mask = np.ones((30, 60), dtype=np.float32)
    compositor = Compositor(photo, box, mask, feather_px=2.0)
    left, top, right, bottom = compositor.paste_box
    alpha = compositor.alpha[0].numpy()
    assert (alpha[:, :left] == 0).all() and (alpha[:, right:] == 0).all()  # outside the crop: the photo
    assert alpha[:, left].max() < 0.5 and alpha[15, (left + right) // 2] == pytest.approx(1.0)  # faded at inner edges
    frames = torch.full((2, 3, RESOLUTION, RESOLUTION), 1.0)  # white frames
    result = compositor(frames)
    assert result.shape == (2, 30, 60, 3)
    assert (result[:, :, :left] == np.asarray(photo)[:, :left]).all()
    assert (result[:, 15, (left + right) // 2] == 255).all()
    cropped = crop_mask(mask, box, RESOLUTION)
    assert cropped.shape == (RESOLUTION, RESOLUTION) and np.allclose(cropped, 1.0)
    capped = Compositor(photo, box, mask, max_side=30)
    assert capped.size == (30, 15)


def test_compositor_soft_edge_stays_inside_the_sky():
    """Land right next to the sky is the photo's own (no shimmer); the sky fades in over ~feather_px above it."""
    photo = make_photo(RESOLUTION * 3, RESOLUTION * 3)  # square: the box is the whole photo
    _, box = official_resize_and_crop(photo, RESOLUTION)
    mask = sky_mask(RESOLUTION * 3, RESOLUTION * 3)  # rows 0-23 sky, 24-47 land
    compositor = Compositor(photo, box, mask, feather_px=4.0)
    alpha = compositor.alpha[0].numpy()
    assert (alpha[24:] == 0).all()  # the first land row included
    assert alpha[:6].min() == pytest.approx(1.0, abs=1e-3) and 0 < alpha[23].max() < 0.1
    frames = torch.rand(3, 3, RESOLUTION, RESOLUTION) * 2 - 1
    out = compositor(frames)
    assert (out[:, 24:] == np.asarray(photo)[24:]).all()
    assert (out[0, :4] != out[1, :4]).any()  # the sky takes the frames


def test_raw_frames_and_output_types(pipe):
    out = call(pipe, composite=False, output_type="np")
    assert out.frames.shape == (4, RESOLUTION, RESOLUTION, 3) and out.frames.dtype == np.float32
    assert out.frames.min() >= 0 and out.frames.max() <= 1
    reconstruction = np.asarray(out.reconstruction, dtype=np.float32) / 255
    assert np.abs(out.frames[0] - reconstruction).max() <= 1 / 255 + 1e-6  # frame 0 is the reconstruction
    out = call(pipe, composite=False, output_type="pt")
    assert out.frames.shape == (4, 3, RESOLUTION, RESOLUTION)
    with pytest.raises(ValueError, match="output_type"):
        call(pipe, output_type="jpeg")


@pytest.mark.parametrize("style", [None, "warm_sunset", "day_cycle"])
def test_loop_closes(pipe, style):
    inverted = pipe.invert(make_photo(), mask=sky_mask(), perceptual=tiny_perceptual)
    n = 6
    out = pipe.animate(
        inverted, style=style, num_frames=n, loop=True, composite=False, output_type="pt", frame_indices=[0, 3, n]
    )
    torch.testing.assert_close(out.frames[2], out.frames[0])
    assert not torch.equal(out.frames[1], out.frames[0])


@pytest.mark.filterwarnings("ignore:bfloat16 was asked for")  # emulated on CPUs without native bf16: slow, not wrong
def test_render_precision_is_chosen_per_call(pipe):
    """``dtype`` on one call renders that call in bf16 and leaves the pipeline's own setting alone (the app serves
    many users with one pipeline)."""
    inverted = pipe.invert(make_photo(), mask=sky_mask(), perceptual=tiny_perceptual)
    kwargs = dict(num_frames=3, composite=False, output_type="pt")
    fp32 = pipe.animate(inverted, dtype="float32", **kwargs).frames
    bf16 = pipe.animate(inverted, dtype="bfloat16", **kwargs).frames
    assert pipe.dtype == "auto"
    assert not torch.equal(fp32, bf16) and (fp32 - bf16).abs().mean() < 0.01  # bf16 ran, close to fp32
    torch.testing.assert_close(pipe.animate(inverted, **kwargs).frames, fp32)  # auto is fp32 on this CPU
    with pytest.raises(ValueError, match="auto, float32, bfloat16"):
        call(pipe, dtype="float16")


def test_style_only_moves_top_levels(pipe):
    assert style_level_indices(7) == [8, 9, 10, 11, 12, 13]  # official: levels 4-6 of the 256 px model
    assert style_level_indices(8) == list(range(8, 16))
    assert style_level_indices(3) == [0, 1, 2, 3, 4, 5]  # small models: their top 3 levels
    assert style_level_indices(5) == [4, 5, 6, 7, 8, 9]
    assert style_level_indices(6) == [6, 7, 8, 9, 10, 11]  # 128 px: 32, 64 and 128 px levels
    w = torch.randn(1, 6, 16)
    path = pipe._style_w_plus(w, "deep_night", np.linspace(0, 1, 5), loop=False)
    assert path.shape == (5, 6, 16)
    torch.testing.assert_close(path[0], w[0])  # frame 0 keeps the photo's look
    assert not torch.allclose(path[-1], w[0])
    big = DeepLandscapePipeline(
        DeepLandscapeGenerator(GeneratorConfig(resolution=128, channels=[8] * 6, z_dim=32, w_dim=16, mapping_layers=1)),
        dynamics=pipe.dynamics,
    )
    w = torch.randn(1, 12, 16)
    path = big._style_w_plus(w, "warm_sunset", np.array([1.0]), loop=False)
    assert torch.equal(path[0, :6], w[0, :6])  # the lower levels keep their W+
    assert not torch.allclose(path[0, 6:], w[0, 6:])


def test_second_style_hits_the_cache(pipe, tmp_path):
    pipe.cache.directory = tmp_path / "cache"
    first = call(pipe)
    assert not first.cache_hit and "optimization" in first.timings
    second = call(pipe, style="warm_sunset", motion="man2")
    assert second.cache_hit and "optimization" not in second.timings and "fine_tune" not in second.timings
    assert second.timings["inversion"] < first.timings["inversion"]
    assert not np.array_equal(np.asarray(second.frames[-1]), np.asarray(first.frames[-1]))
    third = call(pipe, generator=torch.Generator().manual_seed(1), mode="eoif")
    assert not third.cache_hit
    # a fresh pipeline finds the inversion on disk
    fresh = DeepLandscapePipeline(
        pipe.generator, pipe.encoder, pipe.dynamics, pipe.config, model_id=pipe.model_id, cache_dir=tmp_path / "cache"
    )
    fresh.set_progress_bar_config(disable=True)
    again = call(fresh)
    assert again.cache_hit
    for a, b in zip(again.frames, first.frames):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_the_disk_cache_stays_within_its_size_and_a_failed_write_costs_only_the_cache(pipe, tmp_path, monkeypatch):
    from deeplandscape_hf.animation import inversion
    from deeplandscape_hf.networks.hub import current_umask

    folder = tmp_path / "cache"
    pipe.cache.directory = folder
    (folder / "notes").mkdir(parents=True)
    (folder / "notes.safetensors").write_bytes(b"not ours")  # the pruning touches cache entries only
    call(pipe)
    (entry,) = [path for path in folder.glob("*.safetensors") if path.name != "notes.safetensors"]
    assert entry.stat().st_mode & 0o777 == 0o666 & ~current_umask()  # as a saved model: not safetensors' 0600
    pipe.cache.max_disk_bytes = entry.stat().st_size + 1  # room for one entry
    call(pipe, mode="eoif")
    entries = [path for path in folder.glob("*.safetensors") if path.name != "notes.safetensors"]
    assert len(entries) == 1 and entries[0] != entry and (folder / "notes.safetensors").is_file()

    def full_disk(*args, **kwargs):
        raise RuntimeError("Error while serializing: I/O error: No space left on device")  # as safetensors says it

    monkeypatch.setattr(inversion, "save_safetensors", full_disk)
    pipe.cache.clear()
    assert not call(pipe).cache_hit  # animated all the same; only the cache was not written


def test_without_encoder_only_mean_style_modes(model_dir):
    generator, _, _ = build_models()
    pipe = DeepLandscapePipeline(generator, config=PipelineConfig(presets=TINY_PRESETS, default_preset="fast"))
    pipe.set_progress_bar_config(disable=True)
    with pytest.raises(ValueError, match="no encoder.*'mo'"):
        call(pipe, mode="eoifs")
    out = call(pipe, mode="mo")
    assert out.losses["optimization_l1"] < out.losses["encoder_l1"]
    assert call(pipe).mode == "mo"  # mode not given: the best variant this model can run
    with pytest.raises(ValueError, match="network A"):
        call(pipe, mode="mo", style="blue_hour")


def test_unknown_names_fail_before_any_work(pipe):
    with pytest.raises(ValueError, match="valid styles: blue_day"):
        call(pipe, style="purple_rain")
    with pytest.raises(ValueError, match="valid presets: .*man1"):
        call(pipe, motion="wobble")
    with pytest.raises(ValueError, match="eoifs"):
        call(pipe, mode="xyz")
    with pytest.raises(ValueError, match="balanced"):
        call(pipe, preset="turbo")
    assert len(pipe.cache) == 0


def test_bad_images(pipe, tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(InvalidImageError, match="not a readable image"):
        call(pipe, photo=str(text))
    truncated = tmp_path / "cut.png"
    make_photo(200, 160).save(tmp_path / "full.png")
    truncated.write_bytes((tmp_path / "full.png").read_bytes()[:300])
    with pytest.raises(InvalidImageError, match="truncated|corrupt|readable"):
        call(pipe, photo=str(truncated))
    with pytest.raises(InvalidImageError, match="at least 32 px"):
        call(pipe, photo=make_photo(30, 40), mask=None, segmentation="none")
    pipe.config.max_input_pixels = 1000
    try:
        with pytest.raises(InvalidImageError, match="decompression bomb|MP"):
            call(pipe)
    finally:
        pipe.config.max_input_pixels = 50_000_000
    assert len(pipe.cache) == 0


def test_the_output_mask_passed_back_gives_the_same_mask(pipe):
    """What --save-mask writes is the mask as used: passed back with --mask, the same region moves (before, the
    feathered blend was saved and every round trip shrank it by the feather)."""
    first = np.asarray(call(pipe, mask=sky_mask()).mask)
    second = np.asarray(call(pipe, mask=first).mask)
    assert np.array_equal(first, second) and np.array_equal(first > 127, sky_mask() > 0.5)


def test_masks_of_another_size_and_empty_masks(pipe):
    small = np.zeros((20, 24), dtype=np.float32)
    small[:10] = 1
    with warnings.catch_warnings(record=True) as caught:  # the photo's shape, smaller (a saved video mask): quiet
        warnings.simplefilter("always")
        out = call(pipe, mask=small)
    assert out.mask.size == (48, 40) and not [w for w in caught if "resizing the mask" in str(w.message)]
    with pytest.warns(UserWarning, match="resizing the mask.*stretched"):
        call(pipe, mask=np.ones((20, 30), dtype=np.float32))
    with pytest.warns(UserWarning, match="nothing will move"):
        out = call(pipe, mask=np.zeros((40, 48), dtype=np.float32), style="deep_night")
    assert out.mode == "eoif"  # no dynamic region to route to S^dyn
    assert np.asarray(out.mask).max() == 0
    frames = np.stack([np.asarray(frame, dtype=int) for frame in out.frames])
    assert np.abs(frames[-1] - frames[0]).max() > 0  # the style still changes the picture


def test_segmentation_modes(pipe):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = call(pipe, mask=None, segmentation="heuristic")
    assert np.asarray(out.mask)[:5].mean() > 100  # the blue top is found as sky
    assert 0.0 < out.horizon <= 1.0
    from deeplandscape_hf.animation.segmentation import SegmenterUnavailableError

    pipe.config.segmenter = str(pipe.config.segmenter) + "-not-cached-anywhere"
    try:
        with pytest.raises(SegmenterUnavailableError, match="heuristic"):
            call(pipe, mask=None, segmentation="model")
        with pytest.warns(UserWarning, match="Using the offline sky-region segmenter"):
            fallback = call(pipe, mask=None, segmentation="auto")
        np.testing.assert_array_equal(np.asarray(fallback.mask), np.asarray(out.mask))
        photo = make_photo(800, 640)  # shorter side over max_in_resolution: segmented small, resized back
        with pytest.warns(UserWarning, match="^The segmentation model could not be loaded"):
            found = pipe.segment(photo, segmentation="auto")
        heuristic = pipe.segment(photo, segmentation="heuristic")
        np.testing.assert_array_equal(found.dynamic_mask, heuristic.dynamic_mask)
        with pytest.raises(SegmenterUnavailableError):
            pipe.segment(photo, segmentation="model")
    finally:
        pipe.config.segmenter = PipelineConfig().segmenter
    assert heuristic.dynamic_mask.shape == heuristic.sky_mask.shape == heuristic.labels.shape == (640, 800)
    assert heuristic.dynamic_mask.dtype == np.float32 and heuristic.sky_mask[:5].mean() > 0.5  # the blue top
    assert 0.0 < heuristic.horizon <= 1.0
    with pytest.raises(ValueError, match="segmentation mode"):
        pipe.segment(photo, segmentation="none")  # nothing to find: not a segmentation


def test_progress_and_callback(pipe):
    seen = []
    call(pipe, callback=lambda stage, step, total: seen.append((stage, step, total)))
    stages = [stage for stage, _, _ in seen]
    assert stages[0] == "segmentation" and "optimization" in stages and "fine_tune" in stages
    assert seen[-1] == ("render", 4, 4)
    with pipe.progress_bar(total=3, desc="x") as bar:
        assert bar.disable


def test_perceptual_none_warns_and_settings_override(pipe):
    with pytest.warns(UserWarning, match="perceptual='none'"):
        out = call(pipe, perceptual="none", settings=InversionSettings.from_preset("eoifs", "fast", num_iterations=3))
    assert len(out.frames) == 4


def test_config_is_tolerant(tmp_path):
    config = PipelineConfig.from_dict({"fps": 24, "future_key": 1})
    assert config.fps == 24 and config.num_frames == 60 and config.dynamic_classes == ["sky", "water"]
    assert config.preset("paper").optimization_iterations == 500
    with pytest.raises(ValueError, match="Unknown preset field"):
        PipelineConfig(presets={"fast": {"iterations": 1}})
    with pytest.raises(ValueError, match="unknown preset 'turbo'"):
        PipelineConfig(presets={"turbo": {}})
    path = tmp_path / "pipeline.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        PipelineConfig.from_file(path)


def test_perceptual_term_caches_target_features():
    from deeplandscape_hf.animation.perceptual import VGGPerceptualLoss

    vgg = VGGPerceptualLoss(weights=None)
    x, y = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    term = PerceptualTerm(vgg)
    torch.testing.assert_close(term(y, x), vgg(y, x).mean())
    torch.testing.assert_close(term(y, x), vgg(y, x).mean())  # second call uses the cached target features
    small = PerceptualTerm(vgg, size=16)
    torch.testing.assert_close(
        small(y, x), vgg(F.interpolate(y, size=16, mode="area"), F.interpolate(x, size=16, mode="area")).mean()
    )


def test_style_change_reaches_all_land_but_not_sky_texture():
    photo = make_photo(48, 40)
    _, box = official_resize_and_crop(photo, RESOLUTION)
    mask = sky_mask(48, 40)
    weight = 1 - torch.from_numpy(crop_mask(mask, box, RESOLUTION))
    compositor = Compositor(photo, box, mask, feather_px=2.0, static_weight=weight)
    reconstruction = torch.zeros(1, 3, RESOLUTION, RESOLUTION)
    frames = torch.full((1, 3, RESOLUTION, RESOLUTION), 0.2)  # a uniform grade of +0.2 = +25.5 levels ...
    frames[..., : RESOLUTION // 2, :] = torch.randn(1, 3, RESOLUTION // 2, RESOLUTION) * 3  # ... and a wild sky
    out = compositor(frames, reconstruction)
    land = (compositor.alpha[0].numpy() == 0) & (np.arange(40)[:, None] >= 20)
    assert land[:, 0].any() and land[:, -1].any()  # land outside the crop box is included
    change = out[0].astype(float) - np.asarray(photo, dtype=float)
    np.testing.assert_allclose(change[land], 25.5, atol=1.0)
