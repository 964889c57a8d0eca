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


def test_raw_frames_folder_and_defaults(files, tmp_path, capsys):
    out = tmp_path / "frames"
    assert run_cli(common(files, out, "--no-composite", "--motion", "m03", "--speed", "2.5")) == 0
    info = video_info(out)
    assert info.num_frames == 5  # pipeline.json's num_frames
    assert (info.width, info.height) == (16, 16)


def test_help_explains(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["animate", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--mask", "--mode", "--style", "--motion", "--loop", "--preset", "--perceptual", "--segmentation"):
        assert option in text
    assert "warm_sunset" in text and "eoifs" in text


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
    with pytest.raises(SystemExit):
        run_cli(common(files, out, "--style", "purple"))
    assert "invalid choice" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".*"))


def test_device_names():
    assert animate._device("cpu") == "cpu"
    assert animate._device("auto") in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            animate._device("cuda")
    with pytest.raises(ValueError, match="not a device"):
        animate._device("potato")
