"""app.py: the helpers behind the UI (in-process), and the `/animate` API through gradio_client against the real
server (``python app.py --model <tiny model>`` on a free port of 127.0.0.1)."""

from __future__ import annotations

import dataclasses
import logging
import sys
import types
import warnings
from pathlib import Path

import gradio as gr
import imageio.v2 as imageio
import numpy as np
import pytest
from app_helpers import REPO_ROOT, load_app_module, running_app, torch_threads
from PIL import Image

from deeplandscape_hf.animation.images import InvalidImageError
from deeplandscape_hf.animation.segmentation import SegmentationResult
from deeplandscape_hf.motion import MOTION_PRESETS
from deeplandscape_hf.motion.styles import STYLE_NAMES

app = load_app_module()
PHOTO = REPO_ROOT / "examples" / "lake_dock_01.jpg"


def decode_mp4(path: str | Path) -> tuple[np.ndarray, dict]:
    """All frames of an mp4 (T, H, W, 3) and its ffmpeg metadata."""
    reader = imageio.get_reader(str(path), format="FFMPEG")
    try:
        # not list(reader): its len() is inf for mp4 (unknown frame count), which list() tries to preallocate
        return np.stack([np.asarray(frame) for frame in reader]), reader.get_meta_data()
    finally:
        reader.close()


def gif_milliseconds(path: str | Path) -> int:
    """Total play time of a GIF (Pillow merges identical consecutive frames and adds up their delays)."""
    with Image.open(path) as gif:
        total = 0
        for index in range(gif.n_frames):
            gif.seek(index)
            total += gif.info["duration"]
        return total


def stroke_layer(size: tuple[int, int], box: tuple[int, int, int, int] | None) -> Image.Image:
    """A transparent RGBA layer with an opaque painted rectangle (how the editor returns brush strokes)."""
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    if box is not None:
        layer.paste((40, 120, 255, 255), box)
    return layer


# ---------------------------------------------------------------------------------------------------- widgets
def test_choices_cover_every_style_of_the_model_and_every_motion_once(tiny_app_model: Path) -> None:
    pipe = app.DeepLandscapePipeline.from_pretrained(tiny_app_model)  # no styles in pipeline.json: the authors'
    styles = [value for _, value in app.style_choices(pipe)]
    assert styles == [app.KEEP_LIGHT, *STYLE_NAMES]  # eight styles, day_cycle, and "keep the photo's light"
    assert len(set(styles)) == len(styles) and "day_cycle" in styles
    pipe.dynamics = None  # a model without network A offers only the photo's own light
    assert [value for _, value in app.style_choices(pipe)] == [app.KEEP_LIGHT]
    motions = [value for _, value in app.MOTION_CHOICES]
    assert motions == [*MOTION_PRESETS, app.CUSTOM_DIRECTION]
    assert app.DEFAULT_MOTION in MOTION_PRESETS
    assert [value for _, value in app.MODE_CHOICES][0] == app.AUTO_MODE


def test_demo_builds_with_one_public_api_endpoint() -> None:
    demo = app.build_demo()
    public = [fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"]
    assert public == ["animate"]


# ---------------------------------------------------------------------------------------------------- masks
def test_painted_pixels_reads_alpha_and_resizes() -> None:
    layer = stroke_layer((40, 20), (10, 5, 20, 15))
    strokes = app.painted_pixels(layer, (40, 20))
    assert strokes.shape == (20, 40) and strokes[10, 15] and not strokes[0, 0]
    assert strokes.sum() == 100
    resized = app.painted_pixels(layer, (80, 40))
    assert resized.shape == (40, 80) and resized[20, 30]
    assert app.painted_pixels(stroke_layer((40, 20), None), (40, 20)) is None  # nothing painted
    assert app.painted_pixels(Image.new("RGB", (40, 20)), (40, 20)) is None  # no alpha, no strokes
    assert app.painted_pixels(None, (40, 20)) is None


def test_strokes_add_and_remove_movable_pixels() -> None:
    automatic = np.zeros((4, 6), np.float32)
    automatic[:2] = 0.8
    animate = np.zeros((4, 6), bool)
    animate[3, :3] = True
    keep = np.zeros((4, 6), bool)
    keep[:, 0] = True  # overlaps both the sky and the painted region: keep still wins
    mask = app.combine_masks(automatic, animate, keep)
    assert mask[0, 1] == pytest.approx(0.8) and mask[3, 1] == 1.0
    assert (mask[:, 0] == 0).all() and mask[2, 4] == 0
    assert app.combine_masks(automatic, None, None) is not automatic  # never edits the cached mask in place


def test_split_editor_value() -> None:
    photo = Image.open(PHOTO).convert("RGBA")
    value = {
        "background": photo,
        "layers": [stroke_layer(photo.size, (0, 0, 50, 50)), stroke_layer(photo.size, None)],
        "composite": photo,
    }
    loaded, animate, keep = app.split_editor_value(value)
    assert loaded.mode == "RGB" and loaded.size == photo.size
    assert animate is not None and animate[10, 10] and keep is None
    for empty in (None, {"background": None, "layers": [], "composite": None}):
        with pytest.raises(gr.Error, match="Please add a landscape photo"):
            app.split_editor_value(empty)
    with pytest.raises(InvalidImageError, match="1x1 pixels"):
        app.split_editor_value({"background": Image.new("RGBA", (1, 1)), "layers": []})


def test_mask_overlay_tints_the_moving_region() -> None:
    photo = Image.new("RGB", (2000, 1000), (128, 128, 128))
    mask = np.zeros((500, 1000), np.float32)
    mask[:250] = 1.0
    overlay = np.asarray(app.mask_overlay(photo, mask))
    assert overlay.shape == (512, 1024, 3)  # capped at OVERLAY_MAX_SIDE
    assert overlay[10, 10, 2] > overlay[10, 10, 0] + 50  # blue on top (moves)
    assert tuple(overlay[-10, 10]) == (128, 128, 128)  # untouched below (still)


# ---------------------------------------------------------------------------------------------------- decisions
def test_auto_mode_follows_the_mask_and_the_encoder() -> None:
    assert app.resolve_mode("auto", has_mask=True, has_encoder=True) == "eoifs"
    assert app.resolve_mode("auto", has_mask=False, has_encoder=True) == "eoif"
    assert app.resolve_mode("auto", has_mask=True, has_encoder=False) == "mo"
    assert app.resolve_mode("i2s", has_mask=True, has_encoder=True) == "i2s"


def test_zero_gpu_duration_comes_from_preset_and_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    assert app.on_gpu(app.animate) is app.animate  # no `spaces` package here: not decorated
    requested: dict[str, object] = {}

    def fake_gpu(duration):
        requested["duration"] = duration
        return lambda fn: fn

    monkeypatch.setattr(app, "spaces", types.SimpleNamespace(GPU=fake_gpu))
    app.on_gpu(app.animate)
    duration = requested["duration"]
    assert duration("photo.jpg", "keep", "man1", 1.0, 60, 30, "fast") == app.gpu_seconds("fast", 60)
    assert duration("photo.jpg", preset="paper", num_frames=200) == app.gpu_seconds("paper", 200)
    app.on_gpu(app.render_from_editor)  # the UI's GPU part: same rule, its own argument order
    assert requested["duration"]({}, "keep", "man1", 0, 1.0, 90, 30, "balanced") == app.gpu_seconds("balanced", 90)
    assert app.gpu_seconds("fast", 60) < app.gpu_seconds("balanced", 60) < app.gpu_seconds("paper", 60)
    assert app.gpu_seconds("unknown", None) == app.gpu_seconds("balanced", app.MAX_FRAMES)


def test_failures_become_sentences(caplog: pytest.LogCaptureFixture) -> None:
    upload = "/tmp/gradio/0123abcd/holiday.jpg"
    error = app.as_gr_error(InvalidImageError(f"'{upload}' is not a readable image."), {upload: "holiday.jpg"})
    assert isinstance(error, gr.Error) and error.message == "'holiday.jpg' is not a readable image."
    assert "the given Image" not in app.user_message(InvalidImageError("the given Image is 1x1 pixels"))
    assert "fewer frames" in app.as_gr_error(MemoryError()).message
    with caplog.at_level(logging.ERROR, logger="deeplandscape_app"):
        try:
            raise RuntimeError("boom at line 12")
        except RuntimeError as failure:
            unexpected = app.as_gr_error(failure)
    assert "Something went wrong" in unexpected.message and "boom" not in unexpected.message
    assert "boom at line 12" in caplog.text  # the details go to the server log


def test_only_pipeline_warnings_reach_the_user() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("No sky or water to animate was found in the crop.", UserWarning, stacklevel=1)
        warnings.warn("some torch deprecation", UserWarning, stacklevel=1)
        warnings.warn("No sky or water to animate was found in the crop.", UserWarning, stacklevel=1)
    assert app._relay(caught) == [app.NO_MOTION_HINT]


def test_gif_is_small_endless_and_keeps_every_frame(tmp_path: Path) -> None:
    frames = []
    for index in range(10):  # a white square moving over a sky gradient
        frame = np.zeros((540, 960, 3), np.uint8)
        frame[..., 2] = np.linspace(120, 255, 540, dtype=np.uint8)[:, None]
        frame[200:300, 60 * index : 60 * index + 100] = 255
        frames.append(Image.fromarray(frame))
    small = app.gif_frames(frames)
    assert app.gif_frames(small) is small  # already small enough: left alone
    path = app.write_video(small, tmp_path / "loop.gif", fps=12)
    with Image.open(path) as gif:
        assert gif.size == (app.GIF_MAX_SIDE, 270) and gif.n_frames == 10
        assert gif.info["loop"] == 0 and abs(gif.info["duration"] - 1000 / 12) < 10  # GIF stores centiseconds


def test_relay_turns_the_vgg_fallback_into_a_sentence() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("perceptual='auto': the VGG19 weights are not available (offline)", UserWarning, stacklevel=1)
    assert app._relay(caught) == [app.VGG_FALLBACK]


def test_segmenter_fallback_is_reported_once_and_not_retried(app_state, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = app.get_pipeline()
    asked = []

    def fake_segment(photo, segmentation="auto"):
        asked.append(segmentation)
        if segmentation == "auto":
            warnings.warn("The segmentation model could not be loaded (offline).", UserWarning, stacklevel=1)
        return SegmentationResult(
            np.ones((photo.height, photo.width), np.float32),
            np.ones((photo.height, photo.width), np.float32),
            np.ones((photo.height, photo.width), np.int32),
            {1: "sky"},
            1.0,
        )

    monkeypatch.setattr(pipe, "segment", fake_segment)
    found = app.automatic_mask(Image.new("RGB", (40, 30), (90, 140, 220)))
    assert found.guessed and found.mask.shape == (30, 40) and found.mask.min() == 1.0
    assert app.automatic_mask(Image.new("RGB", (40, 30), (10, 40, 120))).guessed
    assert asked == ["auto", "heuristic"]  # the model is not tried again after it failed
    assert app.automatic_mask_notes(found, None) == [app.SEGMENTER_FALLBACK]


def test_an_uncertain_mask_is_told_to_the_user_until_they_paint(app_state) -> None:
    """The offline segmenter leaves a black-and-white photo's water still and says why; the app passes that on
    (it used to go to the log only), unless the 'animate here' layer already says what moves."""
    photo = Image.open(Path(__file__).resolve().parents[1] / "examples" / "lake_pier_fog_01.jpg").convert("RGB")
    found = app.automatic_mask(photo)
    assert found.uncertainty is not None and "no colour" in found.uncertainty
    notes = app.automatic_mask_notes(found, None)
    assert any("no colour" in note and "animate here" in note for note in notes)
    painted = np.zeros(found.mask.shape, np.float32)
    painted[:10] = 1.0
    assert not any("no colour" in note for note in app.automatic_mask_notes(found, painted))


# ---------------------------------------------------------------------------------------------------- in-process run
@pytest.fixture
def app_state(tiny_app_model: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh app state on the tiny model (nothing cached from other tests)."""
    state = app.AppState(model=str(tiny_app_model))
    monkeypatch.setattr(app, "STATE", state)
    with torch_threads(1):
        yield state


def test_run_animation_then_reanimate_reuses_the_inversion(app_state) -> None:
    photo = app.load_image(PHOTO)
    first = app.run_animation(photo, None, None, "keep", "man1", 0, 1.0, 8, 10, False, "fast", "auto", 0)
    frames, meta = decode_mp4(first.video)
    assert frames.shape[0] == 8 and meta["codec"] == "h264"
    assert frames.shape[1:3] == (photo.height + photo.height % 2, photo.width + photo.width % 2)  # padded to even
    assert gif_milliseconds(first.gif) == 8 * 100  # identical frames may be merged, never time
    assert 0 < first.ssim <= 1 and not first.cache_hit
    assert "SSIM" in first.report and "mode EOIFS" in first.report

    again = app.run_animation(photo, None, None, "day_cycle", "custom", 135, 2.0, 9, 10, True, "fast", "auto", 0)
    assert again.cache_hit and "reused" in again.report
    assert again.ssim == pytest.approx(first.ssim)
    assert decode_mp4(again.video)[0].shape[0] == 9
    # a cleared number box or an API client sends None: the defaults, not "Something went wrong (TypeError)"
    cleared = app.run_animation(photo, None, None, "keep", "man1", 0, None, None, None, False, "fast", "auto", None)
    assert cleared.cache_hit and decode_mp4(cleared.video)[0].shape[0] == app.DEFAULT_FRAMES


def test_keep_still_everywhere_animates_nothing_and_says_so(app_state) -> None:
    photo = app.load_image(PHOTO)
    keep = np.ones((photo.height, photo.width), bool)
    result = app.run_animation(photo, None, keep, "keep", "man1", 0, 1.0, 8, 10, False, "fast", "auto", 0)
    assert app.NO_MOTION_HINT in result.warnings
    assert "mode EOIF ·" in result.report  # EOIFS needs something that moves
    overlay = np.asarray(result.overlay, dtype=np.int16)
    original = np.asarray(photo.resize(result.overlay.size), dtype=np.int16)
    assert np.abs(overlay - original).max() <= 2  # no blue tint anywhere


def _without_style(state, name: str) -> None:
    """Mark one style unreachable in the loaded model's vocabulary, as calibration does."""
    vocabulary = app.get_pipeline().config.style_vocabulary()
    entries = dict(vocabulary.styles)
    entries[name] = dataclasses.replace(entries[name], reachable=False, distance=30.0)
    app.get_pipeline().config.styles = dataclasses.replace(vocabulary, styles=entries).to_json()


def test_dropdown_offers_only_what_the_model_can_render(app_state) -> None:
    _without_style(app_state, "warm_sunset")
    offered = [value for _, value in app.style_choices(app.get_pipeline())]
    assert "warm_sunset" not in offered and "blue_hour" in offered and "day_cycle" in offered
    photo = Image.new("RGB", (64, 64), (100, 150, 220))
    with pytest.raises(ValueError, match="'warm_sunset' is not reachable with this model"):
        app.run_animation(photo, None, None, "warm_sunset", "man1", 0, 1.0, 8, 10, False, "fast", "auto", 0)
    demo = app.build_demo()
    dropdown = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "style")
    assert [value for _, value in dropdown.choices] == offered


def test_preview_styles_shows_every_style_from_one_inversion(app_state) -> None:
    _without_style(app_state, "deep_night")
    photo = app.load_image(PHOTO)
    gallery = app.preview_styles(photo, None, None, "fast", "auto", 0)
    captions = [caption for _, caption in gallery]
    assert captions[0] == app.KEEP_LIGHT_LABEL and len(gallery) == 1 + 7  # keep, then the 7 reachable styles
    assert "deep night" not in captions and "warm sunset" in captions
    assert all(max(still.size) <= app.PREVIEW_MAX_SIDE for still, _ in gallery)
    keep = np.asarray(gallery[0][0], dtype=np.int16)
    assert any(np.abs(np.asarray(still, dtype=np.int16) - keep).mean() > 0 for still, _ in gallery[1:])
    # the preview fitted the photo as Animate does, so Animate reuses that fit
    result = app.run_animation(photo, None, None, "blue_hour", "man1", 0, 1.0, 8, 10, False, "fast", "auto", 0)
    assert result.cache_hit
    assert app.style_from_preview(types.SimpleNamespace(index=2)) == "bright_day"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_frames": 3}, "between 8 and 200 frames"),
        ({"preset": "ultra"}, "Unknown quality preset"),
        ({"style": "midnight_sun"}, "unknown style"),
        ({"motion": "m99"}, "unknown motion"),
        ({"mode": "xyz"}, "Unknown inversion mode"),
    ],
)
def test_bad_options_are_explained(app_state, options: dict, message: str) -> None:
    arguments = dict(
        style="keep",
        motion="man1",
        direction=0,
        speed=1.0,
        num_frames=8,
        fps=10,
        loop=False,
        preset="fast",
        mode="auto",
        seed=0,
    )
    arguments.update(options)
    photo = Image.new("RGB", (64, 64), (100, 150, 220))
    with pytest.raises(ValueError, match=message):
        app.run_animation(photo, None, None, **arguments)


# ---------------------------------------------------------------------------------------------------- the server
@pytest.fixture(scope="module")
def server(tiny_app_model: Path, tmp_path_factory: pytest.TempPathFactory):
    with running_app(tiny_app_model, tmp_path_factory.mktemp("api_app")) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    gradio_client = pytest.importorskip("gradio_client")
    return gradio_client.Client(server.url, verbose=False, download_files=str(Path(server.log_path).parent))


@pytest.mark.slow
def test_api_animate_returns_an_mp4_with_the_requested_frames(client, server) -> None:
    from gradio_client import handle_file

    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/animate"]
    path = client.predict(
        handle_file(str(PHOTO)), "warm_sunset", "man1", 1.0, 12, 12, "fast", False, 0, api_name="/animate"
    )
    frames, meta = decode_mp4(path)
    assert frames.shape[0] == 12, server.log()
    assert meta["codec"] == "h264" and meta["fps"] == pytest.approx(12)


@pytest.mark.slow
def test_api_errors_are_sentences_and_the_server_keeps_serving(client, server, tmp_path: Path) -> None:
    from gradio_client import handle_file

    fake = tmp_path / "holiday.jpg"
    fake.write_text("this is a text file, not a photo\n")
    tiny = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (90, 140, 220)).save(tiny)
    for path, expected in ((fake, "not a readable image"), (tiny, "at least 32 px")):
        with pytest.raises(Exception, match=expected) as caught:
            client.predict(handle_file(str(path)), api_name="/animate")
        text = str(caught.value)
        assert path.name in text and "/tmp" not in text and "Traceback" not in text
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict(handle_file(str(PHOTO)), "midnight_sun", api_name="/animate")
    path = client.predict(handle_file(str(PHOTO)), "blue_hour", "m02", 1.0, 8, 8, "fast", True, 0, api_name="/animate")
    assert decode_mp4(path)[0].shape[0] == 8
    assert server.process.poll() is None


@pytest.mark.slow
def test_api_refuses_uploads_over_the_size_limit(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    big = tmp_path / "huge.jpg"
    big.write_bytes(b"\xff" * (81 * 1024 * 1024))  # over MAX_UPLOAD = 80 MB
    with pytest.raises(Exception, match="maximum file size"):
        client.predict(handle_file(str(big)), api_name="/animate")


def test_main_refuses_a_missing_model_with_a_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "STATE", app.AppState())
    monkeypatch.setattr(sys, "argv", ["app.py"])
    with pytest.raises(SystemExit) as exited:
        app.main(["--model", str(tmp_path / "no_such_model")])
    assert "Cannot load the model" in str(exited.value.code)
