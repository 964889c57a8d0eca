"""``deeplandscape animate``: a decodable video with the asked frame count, clear errors, nothing half-written."""

import argparse
import importlib

import numpy as np
import pytest
import torch
from PIL import Image
from test_pipeline import TINY_PRESETS, build_models, make_photo, sky_mask

from deeplandscape_hf.animation.pipeline import DeepLandscapePipeline, PipelineConfig
from deeplandscape_hf.animation.video import video_info
from deeplandscape_hf.commands import animate
from deeplandscape_hf.vocabulary import bundled_model_styles


def run_cli(argv: list[str]) -> int:
    """cli.main when every subcommand module is importable; else the same dispatch with `animate` alone."""
    cli = importlib.import_module("deeplandscape_hf.cli")
    try:
        cli.build_parser()
    except ImportError:  # another subcommand is not written yet: test ours through the same error handling
        parser = argparse.ArgumentParser(prog="deeplandscape")
        animate.add_parser(parser.add_subparsers(dest="command"))
        original = cli.build_parser
        cli.build_parser = lambda: parser
        try:
            return cli.main(argv)
        finally:
            cli.build_parser = original
    return cli.main(argv)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    generator, encoder, dynamics = build_models()
    config = PipelineConfig(presets=TINY_PRESETS, default_preset="fast", num_frames=5, fps=12)
    DeepLandscapePipeline(generator, encoder, dynamics, config).save_pretrained(folder / "model")
    make_photo(50, 40).save(folder / "photo.png")
    mask = sky_mask(50, 40)
    Image.fromarray((mask * 255).astype(np.uint8)).save(folder / "mask.png")
    return folder


def common(files, out, *extra):
    return [
        "animate",
        str(files / "photo.png"),
        "--model",
        str(files / "model"),
        "--mask",
        str(files / "mask.png"),
        "--perceptual",
        "none",
        "--quiet",
        "--out",
        str(out),
        *extra,
    ]


@pytest.mark.parametrize("name,frames", [("clip.mp4", 6), ("loop.gif", 4)])
def test_writes_a_decodable_video(files, tmp_path, capsys, name, frames):
    out = tmp_path / name
    code = run_cli(common(files, out, "--frames", str(frames), "--style", "blue_hour", "--loop", "--seed", "3"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    info = video_info(out)
    assert info.num_frames == frames
    assert (info.width, info.height) == (50, 40)
    assert "perceptual none" in captured.err and "wrote" in captured.out


def test_save_mask_writes_the_mask_that_was_used(files, tmp_path, capsys):
    """--save-mask writes the compositing mask that was used, at the video's size: the painted one (feathered)."""
    out, saved = tmp_path / "clip.gif", tmp_path / "masks" / "used.png"
    assert run_cli(common(files, out, "--frames", "2", "--save-mask", str(saved))) == 0
    assert f"wrote {saved}" in capsys.readouterr().out
    written = np.asarray(Image.open(saved).convert("L"), dtype=np.float32) / 255
    assert written.shape == (40, 50)
    assert written[20:].max() == 0  # the painted land (lower half) never moves
    assert written[:6, 10:40].min() > 0.9  # the painted sky does, inside the generator's centre crop
    assert run_cli(common(files, out, "--save-mask", str(tmp_path / "mask.jpg"))) != 0
    assert "use a name ending in .png" in capsys.readouterr().err


def test_raw_frames_folder_and_defaults(files, tmp_path, capsys):
    out = tmp_path / "frames"
    assert run_cli(common(files, out, "--no-composite", "--motion", "m03", "--speed", "2.5")) == 0
    info = video_info(out)
    assert info.num_frames == 5  # pipeline.json's num_frames
    assert (info.width, info.height) == (16, 16)


@pytest.mark.parametrize("max_size,expected", [(None, (32, 26)), ("40", (40, 32)), ("full", (50, 40))])
def test_max_size_gives_the_requested_output_size(files, tmp_path, max_size, expected):
    """The model's pipeline.json says 32 px; --max-size overrides it, 'full' keeps the 50 x 40 photo's size."""
    generator, encoder, dynamics = build_models()
    config = PipelineConfig(presets=TINY_PRESETS, default_preset="fast", num_frames=2, max_output_side=32)
    DeepLandscapePipeline(generator, encoder, dynamics, config).save_pretrained(tmp_path / "model")
    argv = common(files, tmp_path / "sized.mp4", *([] if max_size is None else ["--max-size", max_size]))
    argv[argv.index("--model") + 1] = str(tmp_path / "model")
    assert run_cli(argv) == 0
    info = video_info(tmp_path / "sized.mp4")
    assert (info.width, info.height) == expected


def test_a_camera_sized_jpeg_is_worked_on_at_the_output_size(files, tmp_path, capsys):
    """12 MP with --max-size 640: decoded at 1/4 scale, kept at 600 px of height for the inversion, and said so."""
    photo = tmp_path / "camera.jpg"
    make_photo(48, 36).resize((4000, 3000), Image.Resampling.BILINEAR).save(photo, quality=90)
    argv = common(files, tmp_path / "camera.mp4", "--max-size", "640", "--segmentation", "none", "--frames", "2")
    argv[1] = str(photo)
    argv.remove("--quiet")
    mask_at = argv.index("--mask")
    del argv[mask_at : mask_at + 2]
    assert run_cli(argv) == 0
    info = video_info(tmp_path / "camera.mp4")
    assert (info.width, info.height) == (640, 480)
    assert "4000x3000 (12.0 MP); working at 800x600, decoded at 1000x750" in capsys.readouterr().err


def test_help_explains(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["animate", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--mask", "--mode", "--style", "--motion", "--loop", "--preset", "--perceptual", "--segmentation"):
        assert option in text
    assert "eoifs" in text
    offered = ", ".join(bundled_model_styles()) or "none (see its model card)"
    assert f"the bundled model's: {offered}" in " ".join(text.split())  # the styles it can render, not all names
    # each default is named once, and only where there is one to name
    flat = " ".join(text.split())
    assert "(default: None)" not in flat and "(default: False)" not in flat
    assert "(default: the model's, 60)" in flat and "60) (default" not in flat
    assert "(default: 1.0)" in flat  # --speed: argparse still names a plain default


def test_bad_inputs_give_clear_errors_and_no_file(files, tmp_path, capsys):
    out = tmp_path / "never.mp4"
    notes = tmp_path / "notes.jpg"
    notes.write_text("hello")
    argv = common(files, out)
    argv[1] = str(notes)
    assert run_cli(argv) == 2
    assert "not a readable image" in capsys.readouterr().err
    argv[1] = str(tmp_path / "missing.jpg")
    assert run_cli(argv) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run_cli(common(files, out, "--motion", "wobble")) == 2
    assert "valid presets" in capsys.readouterr().err
    assert run_cli(common(files, out, "--frames", "0")) == 2
    assert run_cli(common(files, tmp_path / "x.avi")) == 2
    assert ".mp4" in capsys.readouterr().err
    assert run_cli(common(files, out, "--style", "purple")) == 2  # checked against the model's own styles
    assert "unknown style 'purple'; valid styles: blue_day" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli(common(files, out, "--max-size", "huge"))
    assert "number of pixels (e.g. 1920) or 'full'" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".*"))


def test_outputs_are_checked_before_any_work(files, tmp_path, capsys, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("the model was loaded before the output paths were checked")

    monkeypatch.setattr(DeepLandscapePipeline, "from_pretrained", no_work)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    cases = {
        str(files / "mask.png"): "is the mask; writing there would replace it",
        str(blocker / "video.mp4"): "cannot be created",
        str(tmp_path / "slow.gif"): "GIF frames last at most",
    }
    for out, message in cases.items():
        assert run_cli([*common(files, out), "--fps", "0.001"]) == 2
        assert message in capsys.readouterr().err
    assert run_cli([*common(files, tmp_path / "v.mp4"), "--save-mask", str(files / "mask.png")]) == 2
    assert "--save-mask '" in (err := capsys.readouterr().err) and "is the mask; writing there would replace" in err
    assert not (tmp_path / "slow.gif").exists() and not (tmp_path / "v.mp4").exists()


def test_device_names():
    assert animate._device("cpu") == "cpu"
    assert animate._device("auto") in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            animate._device("cuda")
    with pytest.raises(ValueError, match="not a device"):
        animate._device("potato")
