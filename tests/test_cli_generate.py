"""``deeplandscape generate``: written files decode to the requested frames and size; mistakes cost nothing."""

from __future__ import annotations

import pytest
import torch

from deeplandscape_hf import DeepLandscapeGenerator, GeneratorConfig, cli
from deeplandscape_hf.animation.video import read_video
from deeplandscape_hf.commands import generate as generate_command
from deeplandscape_hf.networks.layers import NoiseInjection


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = GeneratorConfig(
        resolution=16, channels=[16, 16, 8], z_dim=32, w_dim=16, mapping_layers=2, fused_from_resolution=16
    )
    model = DeepLandscapeGenerator(config)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, NoiseInjection):
                module.weight.normal_()
    model.compute_w_avg(num_samples=256)
    folder = tmp_path_factory.mktemp("model")
    model.save_pretrained(folder)
    return folder


@pytest.fixture
def run(monkeypatch, model_dir):
    """cli.main with only the commands under test registered (others may be missing in a partial checkout).

    The allocator tuning is process-wide, so it is recorded here instead of being applied to the test process.
    """
    monkeypatch.setattr(cli, "COMMANDS", ("generate",))
    tuned = []
    monkeypatch.setattr("deeplandscape_hf.networks.synthetic.tune_cpu_allocator", lambda: tuned.append(True) or True)

    def invoke(*argv: str) -> int:
        return cli.main(["generate", "--model", str(model_dir), *argv])

    invoke.tuned = tuned
    return invoke


def test_tiled_mp4_decodes_to_requested_frames_and_size(run, tmp_path):
    out = tmp_path / "video.mp4"
    assert run("--frames", "5", "--num-videos", "2", "--out", str(out), "--batch-size", "2") == 0
    frames = read_video(out)
    assert frames.shape == (5, 16, 32, 3)  # two 16 px videos side by side
    assert frames[:, :, :16].std() > 1  # not blank
    assert not (frames[:, :, :16] == frames[:, :, 16:]).all()  # two different samples
    assert run.tuned == [True]  # the CLI entry point asks for the allocator tuning once


def test_separate_gifs_and_png_folder(run, tmp_path):
    assert (
        run("--frames", "4", "--num-videos", "2", "--separate-files", "--loop", "--out", str(tmp_path / "a.gif")) == 0
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_000.gif", "a_001.gif"]
    assert read_video(tmp_path / "a_000.gif").shape == (4, 16, 16, 3)
    assert run("--frames", "3", "--style", "deep_night", "--motion", "man2", "--out", str(tmp_path / "frames")) == 0
    assert read_video(tmp_path / "frames").shape == (3, 16, 16, 3)
    assert run("--frames", "3", "--motion", "random", "--out", str(tmp_path / "b.webp")) == 0
    assert read_video(tmp_path / "b.webp").shape == (3, 16, 16, 3)


def test_same_seed_same_file_content(run, tmp_path):
    assert run("--frames", "3", "--seed", "7", "--out", str(tmp_path / "a")) == 0
    assert run("--frames", "3", "--seed", "7", "--out", str(tmp_path / "b")) == 0
    assert (read_video(tmp_path / "a") == read_video(tmp_path / "b")).all()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--frames", "0"], "--frames must be >= 1"),
        (["--num-videos", "0"], "--num-videos must be >= 1"),
        (["--motion", "m13"], "m01, m02"),
        (["--style", "sunrise"], "warm_sunset"),
        (["--batch-size", "0"], "--batch-size"),
        (["--horizon", "2"], "--horizon"),
    ],
)
def test_user_errors_are_clear_and_write_nothing(run, tmp_path, capsys, argv, message):
    out = tmp_path / "out.mp4"
    assert run(*argv, "--frames" if "--frames" not in argv else "--fps", "2", "--out", str(out)) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_style_names_mean_what_the_model_says(run, model_dir, tmp_path, capsys):
    """A model's pipeline.json vocabulary, not the authors' table, sets what a name does; unreachable names are
    refused before any frame is written."""
    import json

    from deeplandscape_hf.networks.synthetic import generate_video

    (model_dir / "pipeline.json").write_text(
        json.dumps(
            {
                "styles": {
                    "names": {
                        "warm_sunset": {"z_dyn": [2.0, -1.0, 0.5], "reachable": True},
                        "deep_night": {"z_dyn": [0.0, 0.0, 0.0], "reachable": False},
                    }
                }
            }
        )
    )
    try:
        assert run("--frames", "2", "--style", "warm_sunset", "--motion", "none", "--out", str(tmp_path / "a")) == 0
        model = DeepLandscapeGenerator.from_pretrained(model_dir)
        target = torch.tensor([2.0, -1.0, 0.5])
        expected = generate_video(model, 2, seed=0, style=target, motion="none")
        written = torch.from_numpy(read_video(tmp_path / "a")).permute(0, 3, 1, 2).float() / 127.5 - 1
        assert (written - expected.clamp(-1, 1)).abs().max() <= 2 / 127.5  # 8-bit rounding of the same frames
        authors = generate_video(model, 2, seed=0, style="warm_sunset", motion="none")
        assert (authors - expected).abs().max() > 0.05  # the authors' target would give another picture
        assert run("--frames", "2", "--style", "deep_night", "--out", str(tmp_path / "b.mp4")) == 2
        assert "not reachable" in capsys.readouterr().err
        assert not (tmp_path / "b.mp4").exists()
    finally:
        (model_dir / "pipeline.json").unlink()


def test_unwritable_or_unknown_output(run, tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert run("--frames", "2", "--out", str(blocker / "video.mp4")) == 2
    assert "not a writable folder" in capsys.readouterr().err
    assert run("--frames", "2", "--out", str(tmp_path / "video.avi")) == 2
    assert ".mp4" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_missing_model_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "COMMANDS", ("generate",))
    assert cli.main(["generate", "--model", str(tmp_path / "nowhere"), "--out", str(tmp_path / "v.mp4")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert not (tmp_path / "v.mp4").exists()


def test_help_explains_every_option(monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMANDS", ("generate",))
    with pytest.raises(SystemExit):
        cli.main(["generate", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--model",
        "--num-videos",
        "--frames",
        "--fps",
        "--motion",
        "--speed",
        "--style",
        "--seed",
        "--truncation",
        "--loop",
        "--horizon",
        "--batch-size",
        "--device",
        "--out",
        "--separate-files",
    ):
        assert option in text
    assert "day_cycle" in text and "man5" in text


def test_cli_name_lists_match_the_library():
    from deeplandscape_hf.animation.pipeline import PIPELINE_CONFIG_NAME
    from deeplandscape_hf.motion import MOTION_PRESET_NAMES
    from deeplandscape_hf.networks.synthetic import KEEP_STYLE

    assert generate_command.MOTION_PRESET_NAMES == MOTION_PRESET_NAMES
    assert generate_command.KEEP_STYLE == KEEP_STYLE
    assert generate_command.PIPELINE_JSON == PIPELINE_CONFIG_NAME
