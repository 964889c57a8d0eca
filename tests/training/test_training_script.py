"""train_accelerate.py end to end on CPU with the tiny config: gan, encoder, dynamics, resume, exports, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import train_accelerate  # noqa: E402
from deeplandscape_hf.training import checkpoint as ckpt  # noqa: E402
from deeplandscape_hf.training import gan  # noqa: E402
from deeplandscape_hf.training.configs import get_config  # noqa: E402

FAST = ["--report_to", "none", "--cpu_threads", "1", "--sample_steps", "1000", "--log_steps", "2"]


@pytest.fixture(autouse=True)
def _one_thread():
    """Runs pass --cpu_threads 1 (two threads on a busy 2-core machine spin-wait and run tiny convs 10-100x slower);
    put the process-wide setting back afterwards for the other test files."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def run(argv: list[str]) -> int:
    """Parse and run in-process, resetting Accelerate's process-wide singletons afterwards."""
    from accelerate.state import AcceleratorState, GradientState

    try:
        return train_accelerate.main(train_accelerate.parse_args(argv))
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> dict[str, Path]:
    """Procedural photos and videos, plus a corrupt and a one-frame video that must be skipped."""
    from deeplandscape_hf.training.procedural import render_landscape, write_procedural_dataset

    root = tmp_path_factory.mktemp("data")
    images, videos = root / "images", root / "videos"
    images.mkdir()
    for seed in range(4):
        Image.fromarray(render_landscape(1, (40, 56), seed=100 + seed).frames[0]).save(images / f"photo_{seed}.png")
    write_procedural_dataset(videos, num_videos=3, num_frames=5, size=(32, 48), seed=1)
    (videos / "broken.mp4").write_bytes(b"this is not an mp4 file" * 10)
    write_procedural_dataset(videos / "short", num_videos=1, num_frames=1, size=(32, 48), seed=2)
    cache = root / "cache"  # shared by the runs below, so the data is decoded once
    return {"images": images, "videos": videos, "cache": cache, "root": root}


def gan_args(dataset, output_dir: Path, *extra: str) -> list[str]:
    return [
        "gan",
        "--config",
        "tiny",
        "--image_dir",
        str(dataset["images"]),
        "--video_dir",
        str(dataset["videos"]),
        "--cache_dir",
        str(dataset["cache"]),
        "--output_dir",
        str(output_dir),
        *FAST,
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory) -> Path:
    """A short gan run that crosses the 8 -> 16 px phase change and exports the hub layout."""
    out = tmp_path_factory.mktemp("gan")
    assert (
        run(
            gan_args(
                dataset,
                out,
                "--images_per_phase",
                "16",
                "--max_train_steps",
                "10",
                "--checkpointing_steps",
                "4",
                "--checkpoints_total_limit",
                "2",
                "--sample_steps",
                "10",
            )
        )
        == 0
    )
    return out


def test_gan_exports_a_loadable_hub_layout(trained):
    from deeplandscape_hf.networks.discriminator import ImageDiscriminator, PairwiseDiscriminator
    from deeplandscape_hf.networks.generator import DeepLandscapeGenerator

    G = DeepLandscapeGenerator.from_pretrained(trained)
    assert G.resolution == 16 and G.w_avg.abs().sum() > 0  # mean style computed for truncation / the encoder
    with torch.no_grad():
        images = G(G.sample_z(2, torch.Generator().manual_seed(0)), generator=torch.Generator().manual_seed(1))
    assert images.shape == (2, 3, 16, 16) and torch.isfinite(images).all()
    image_d = ImageDiscriminator.from_pretrained(trained, subfolder="discriminators/image")
    pair_d = PairwiseDiscriminator.from_pretrained(trained, subfolder="discriminators/pairwise")
    assert image_d(images).shape == (2, 1) and pair_d(torch.stack([images, images], 1)).shape == (2, 1)
    assert json.loads((trained / "pipeline.json").read_text()) == {"resolution": 16}
    assert (trained / "README.md").is_file()
    # the exported generator is the EMA copy of the last checkpoint
    last = ckpt.latest_checkpoint(trained / "checkpoints" / "gan")
    ema = load_file(str(last / "generator_ema.safetensors"))
    exported = load_file(str(trained / "model.safetensors"))
    assert all(torch.equal(ema[k], exported[k]) for k in ema if k != "w_avg")
    # rotation kept 2 checkpoints; the state records where the schedule stood
    assert [p.name for p in ckpt.list_checkpoints(trained / "checkpoints" / "gan")] == ["checkpoint-8", "checkpoint-10"]
    state = ckpt.read_training_state(last)
    assert (state["iteration"], state["num_images_seen"], state["resolution"]) == (10, 80, 16)
    assert list((trained / "samples" / "gan").glob("*.mp4"))


def test_corrupt_and_one_frame_videos_are_skipped(trained, dataset):
    manifest = json.loads((dataset["cache"] / "manifest.json").read_text())
    assert len(manifest["videos"]) == 3
    skipped = {Path(item["source"]).name: item["category"] for item in manifest["skipped"]}
    assert "broken.mp4" in skipped and skipped["broken.mp4"] == "unreadable"
    assert any(category == "too_few_frames" for category in skipped.values())


def test_phase_change_switches_batch_and_learning_rate(dataset, tmp_path):
    config = get_config("tiny").to_dict()
    config.update(batch_sizes={"8": 4, "16": 2}, learning_rates={"8": 1e-3, "16": 2e-3}, fade_images=8, stable_images=8)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    out = tmp_path / "out"
    assert run(gan_args(dataset, out, "--config", str(path), "--max_train_steps", "6")) == 0
    last = ckpt.latest_checkpoint(out / "checkpoints" / "gan")
    state = ckpt.read_training_state(last)
    # 8 px: 16 images at batch 4 = 4 iterations; then 16 px at batch 2
    assert (state["resolution"], state["num_images_seen"]) == (16, 4 * 4 + 2 * 2)
    groups = ckpt.load_state_files(last, "optimizer_generator")["param_groups"]
    assert [g["lr"] for g in groups] == pytest.approx([2e-3, 2e-3 * 0.01])  # mapping net: lr x 0.01
    assert ckpt.load_state_files(last, "optimizer_discriminator_image")["param_groups"][0]["lr"] == 2e-3


def _weights(folder: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {p.stem: load_file(str(p)) for p in folder.glob("*.safetensors") if not p.stem.startswith("rng")}


def test_resume_continues_exactly(dataset, tmp_path):
    extra = ["--images_per_phase", "16", "--checkpointing_steps", "4"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert run(gan_args(dataset, straight, *extra, "--max_train_steps", "8")) == 0
    assert run(gan_args(dataset, stopped, *extra, "--max_train_steps", "4")) == 0  # stops at the 8 -> 16 px change
    assert run(gan_args(dataset, stopped, *extra, "--max_train_steps", "8", "--resume_from_checkpoint", "latest")) == 0
    a = _weights(straight / "checkpoints" / "gan" / "checkpoint-8")
    b = _weights(stopped / "checkpoints" / "gan" / "checkpoint-8")
    assert set(a) == set(b) and "optimizer_generator" in a and "generator_ema" in a
    for name in a:
        for key in a[name]:
            torch.testing.assert_close(a[name][key], b[name][key], rtol=1e-5, atol=1e-6, msg=f"{name}.{key}")
    state_a = ckpt.read_training_state(straight / "checkpoints" / "gan" / "checkpoint-8")
    state_b = ckpt.read_training_state(stopped / "checkpoints" / "gan" / "checkpoint-8")
    assert state_a["data_counters"] == state_b["data_counters"]


def test_encoder_and_dynamics_add_subfolders(trained):
    from deeplandscape_hf.networks.dynamics import StyleDynamicsNet
    from deeplandscape_hf.networks.encoder import DeepLandscapeEncoder
    from deeplandscape_hf.networks.generator import DeepLandscapeGenerator

    common = ["--generator", str(trained), "--output_dir", str(trained), *FAST]
    assert (
        run(
            [
                "encoder",
                *common,
                "--backbone",
                "resnet18",
                "--no_pretrained_backbone",
                "--hidden",
                "32",
                "--batch_size",
                "2",
                "--max_train_steps",
                "2",
                "--image_loss_weight",
                "0.1",
            ]
        )
        == 0
    )
    assert run(["dynamics", *common, "--depth", "2", "--batch_size", "16", "--max_train_steps", "3"]) == 0
    G = DeepLandscapeGenerator.from_pretrained(trained)
    encoder = DeepLandscapeEncoder.from_pretrained(trained, subfolder="encoder")
    with torch.no_grad():
        w_plus = encoder(torch.zeros(1, 3, 32, 32))
    assert w_plus.shape == (1, G.num_ws, G.config.w_dim)
    net = StyleDynamicsNet.from_pretrained(trained, subfolder="dynamics")
    assert net(torch.randn(2, G.config.w_dim), torch.zeros(2, 3), 0.5).shape == (2, G.config.w_dim)
    assert (trained / "discriminators" / "image").is_dir()  # the gan export is still there
    assert ckpt.latest_checkpoint(trained / "checkpoints" / "encoder").name == "checkpoint-2"
    assert list((trained / "samples" / "encoder").glob("*.png")) and list(
        (trained / "samples" / "dynamics").glob("*.mp4")
    )


def test_encoder_starts_at_the_mean_style(trained, tmp_path):
    from deeplandscape_hf.networks.encoder import DeepLandscapeEncoder
    from deeplandscape_hf.networks.generator import DeepLandscapeGenerator

    out = tmp_path / "model"
    assert (
        run(
            [
                "encoder",
                "--generator",
                str(trained),
                "--output_dir",
                str(out),
                *FAST,
                "--backbone",
                "resnet18",
                "--no_pretrained_backbone",
                "--hidden",
                "32",
                "--batch_size",
                "2",
                "--max_train_steps",
                "1",
                "--learning_rate",
                "0",
            ]
        )
        == 0
    )
    G = DeepLandscapeGenerator.from_pretrained(out)  # the generator was copied in: one complete model folder
    bias = DeepLandscapeEncoder.from_pretrained(out, subfolder="encoder").head[-1].bias
    torch.testing.assert_close(bias.view(-1, G.config.w_dim)[0], G.w_avg)


def test_dynamics_refuses_to_resume_against_a_changed_generator(trained, tmp_path):
    """Network A (and the encoder) learn one G: after more GAN training their checkpoints are stale, and resuming
    them silently would ship a mismatched model."""
    from deeplandscape_hf.networks.generator import DeepLandscapeGenerator

    generator_dir, out = tmp_path / "generator", tmp_path / "model"
    G = DeepLandscapeGenerator.from_pretrained(trained)
    G.save_pretrained(generator_dir)
    common = ["dynamics", "--generator", str(generator_dir), "--output_dir", str(out), *FAST, "--depth", "2"]
    common += ["--batch_size", "4", "--checkpointing_steps", "1", "--resume_from_checkpoint", "latest"]
    assert run([*common, "--max_train_steps", "1"]) == 0
    assert run([*common, "--max_train_steps", "2"]) == 0  # same G: resumes
    with torch.no_grad():
        G.mapping.net[1].weight.mul_(1.01)  # "more training"
    G.save_pretrained(generator_dir)
    with pytest.raises(train_accelerate.TrainingInputError, match="generator.s weights differ"):
        run([*common, "--max_train_steps", "3"])


# --------------------------------------------------------------------------------------------------------- bad input
def test_bad_inputs_fail_before_any_work(dataset, trained, tmp_path):
    error = train_accelerate.TrainingInputError
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["--image_dir", str(tmp_path / "missing")], "does not exist"),
        (["--image_dir", str(empty)], "has no images"),
        (["--image_dir", str(dataset["images"]), "--video_dir", str(empty)], "has no videos"),
    ]
    for extra, message in cases:
        with pytest.raises(error, match=message):
            run(["gan", "--config", "tiny", "--output_dir", str(tmp_path / "o1"), *FAST, *extra])
    with pytest.raises(error, match="needs real videos"):
        run(
            [
                "gan",
                "--config",
                "tiny",
                "--image_dir",
                str(dataset["images"]),
                "--output_dir",
                str(tmp_path / "o2"),
                *FAST,
            ]
        )
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(error, match="not writable"):
        run(gan_args(dataset, blocker / "sub"))
    with pytest.raises(error, match="does not exist"):
        run(gan_args(dataset, tmp_path / "o3", "--resume_from_checkpoint", str(tmp_path / "no-checkpoint")))
    with pytest.raises(error, match="(?s)another configuration.*r1_gamma: 10.0 -> 1.0"):
        run(
            gan_args(
                dataset, trained, "--images_per_phase", "16", "--r1_gamma", "1", "--resume_from_checkpoint", "latest"
            )
        )
    with pytest.raises(error, match="no_pretrained_backbone"):
        run(["encoder", "--generator", str(trained), "--output_dir", str(tmp_path / "o4"), *FAST])
    with pytest.raises(error, match="does not exist"):
        run(["dynamics", "--generator", str(tmp_path / "nothing"), "--output_dir", str(tmp_path / "o5"), *FAST])
    assert not (tmp_path / "o1" / "checkpoints").exists() and not (tmp_path / "o3" / "checkpoints").exists()


def test_command_line_reports_errors_with_exit_status_2(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "train_accelerate.py"),
            "gan",
            "--config",
            "tiny",
            "--image_dir",
            str(tmp_path / "missing"),
            "--output_dir",
            str(tmp_path / "out"),
            "--report_to",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 2
    assert "train_accelerate.py gan: error: --image_dir" in result.stderr and "Traceback" not in result.stderr


def test_original_config_trains_without_videos(dataset, tmp_path):
    out = tmp_path / "original"
    config = get_config("original").to_dict()
    small = {
        "resolution": 16,
        "generator_channels": [8, 8, 8],
        "discriminator_channels": [8, 8, 8],
        "pairwise_channels": [8, 8, 8],
        "z_dim": 16,
        "w_dim": 16,
        "mapping_layers": 1,
        "batch_sizes": {"8": 4, "16": 4},
        "learning_rates": {"8": 1e-3, "16": 1e-3},
    }
    config.update(small)
    path = tmp_path / "original.json"
    path.write_text(json.dumps(config))
    assert (
        run(
            [
                "gan",
                "--config",
                str(path),
                "--image_dir",
                str(dataset["images"]),
                "--output_dir",
                str(out),
                "--cache_dir",
                str(tmp_path / "cache"),
                *FAST,
                "--max_train_steps",
                "2",
            ]
        )
        == 0
    )
    assert (out / "model.safetensors").is_file() and not (out / "discriminators" / "pairwise").exists()
    assert np.isfinite(json.loads((out / "training_config.json").read_text())["r1_gamma"])


# --------------------------------------------------------------------------------------------------------- run control
def _all_tensors(folder: Path) -> dict[str, torch.Tensor]:
    return {f"{p.stem}/{k}": v for p in sorted(folder.glob("*.safetensors")) for k, v in load_file(str(p)).items()}


def test_ctrl_c_saves_a_checkpoint_that_resumes_bit_exactly(dataset, tmp_path, monkeypatch, capsys):
    extra = ["--images_per_phase", "16", "--checkpointing_steps", "100", "--max_train_steps", "6"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert run(gan_args(dataset, straight, *extra)) == 0

    iteration = gan.gan_iteration
    calls = []

    def ctrl_c_in_the_third_iteration(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)  # arrives mid-iteration; the iteration still completes
        return iteration(*args, **kwargs)

    monkeypatch.setattr(gan, "gan_iteration", ctrl_c_in_the_third_iteration)
    assert run(gan_args(dataset, stopped, *extra)) == 130
    monkeypatch.undo()
    root = stopped / "checkpoints" / "gan"
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["checkpoint-3"]
    assert not (stopped / "model.safetensors").exists()  # a stopped run saves a checkpoint, it does not export
    line = [x for x in capsys.readouterr().err.splitlines() if "stopped by SIGINT" in x]
    assert len(line) == 1 and f"saved {root / 'checkpoint-3'}; resume with: python " in line[0]
    assert line[0].endswith("--max_train_steps 6 --resume_from_checkpoint latest")
    assert (stopped / ".training.lock").read_text() == ""  # released

    assert run(gan_args(dataset, stopped, *extra, "--resume_from_checkpoint", "latest")) == 0
    a = _all_tensors(straight / "checkpoints" / "gan" / "checkpoint-6")
    b = _all_tensors(root / "checkpoint-6")
    assert set(a) == set(b) and any(k.startswith("optimizer_generator/") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]


def test_ctrl_c_while_preparing_the_data_stops_before_training(dataset, tmp_path, monkeypatch, capsys):
    prepare = gan.prepare_data_cache

    def ctrl_c_while_caching(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        return prepare(*args, **kwargs)

    monkeypatch.setattr(gan, "prepare_data_cache", ctrl_c_while_caching)
    out = tmp_path / "out"
    assert run(gan_args(dataset, out, "--images_per_phase", "16", "--max_train_steps", "6")) == 130
    assert ckpt.list_checkpoints(out / "checkpoints" / "gan") == []  # not one iteration ran
    assert "stopped before its first iteration, nothing new to save; resume with:" in capsys.readouterr().err


def test_dynamics_stops_on_sigterm_and_resumes_bit_exactly(trained, tmp_path, monkeypatch, capsys):
    from deeplandscape_hf.training import run_control

    common = ["dynamics", "--generator", str(trained), *FAST, "--depth", "2", "--batch_size", "8"]
    common += ["--max_train_steps", "5", "--checkpointing_steps", "100"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert run([*common, "--output_dir", str(straight)]) == 0
    agree, boundaries = run_control.any_rank, []

    def sigterm_during_the_second_iteration(accelerator, flag):
        boundaries.append(flag)
        if len(boundaries) == 2:  # the first check is before the first iteration, the second right after it
            signal.raise_signal(signal.SIGTERM)  # what a scheduler sends before it kills a job
        return agree(accelerator, flag)

    monkeypatch.setattr(run_control, "any_rank", sigterm_during_the_second_iteration)
    assert run([*common, "--output_dir", str(stopped)]) == 130
    monkeypatch.undo()
    assert boundaries == [False, False, True]  # read at the boundary after the signal, not before
    assert [p.name for p in ckpt.list_checkpoints(stopped / "checkpoints" / "dynamics")] == ["checkpoint-2"]
    assert not (stopped / "dynamics").exists() and "stopped by SIGTERM; saved" in capsys.readouterr().err
    assert run([*common, "--output_dir", str(stopped), "--resume_from_checkpoint", "latest"]) == 0
    a = _all_tensors(straight / "checkpoints" / "dynamics" / "checkpoint-5")
    b = _all_tensors(stopped / "checkpoints" / "dynamics" / "checkpoint-5")
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_a_second_run_into_a_folder_in_use_is_refused(dataset, tmp_path):
    from deeplandscape_hf.training.run_control import OutputLock

    out = tmp_path / "busy"
    busy = f"in use by another run: PID {os.getpid()} on"
    with OutputLock(out, "gan"), pytest.raises(train_accelerate.TrainingInputError, match=busy):
        run(gan_args(dataset, out, "--max_train_steps", "1"))
    assert not (out / "checkpoints").exists()


def test_latest_falls_back_past_a_damaged_checkpoint(dataset, tmp_path, caplog):
    out = tmp_path / "out"
    extra = ["--images_per_phase", "16", "--checkpointing_steps", "2"]
    assert run(gan_args(dataset, out, *extra, "--max_train_steps", "4")) == 0
    root = out / "checkpoints" / "gan"
    weights = root / "checkpoint-4" / "generator.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a crash or a full disk mid-copy
    with pytest.raises(train_accelerate.TrainingInputError, match="checkpoint-4' is damaged: generator.safetensors"):
        run(
            gan_args(
                dataset, out, *extra, "--max_train_steps", "6", "--resume_from_checkpoint", str(root / "checkpoint-4")
            )
        )
    with caplog.at_level("INFO"):
        assert run(gan_args(dataset, out, *extra, "--max_train_steps", "6", "--resume_from_checkpoint", "latest")) == 0
    assert "skipping damaged checkpoint" in caplog.text and "generator.safetensors has 1000 bytes" in caplog.text
    assert f"resumed from {root / 'checkpoint-2'}" in caplog.text
    assert ckpt.verify_checkpoint(root / "checkpoint-6") == []


def test_resume_may_change_the_pairwise_schedule_and_records_it(dataset, tmp_path):
    out = tmp_path / "out"
    extra = ["--images_per_phase", "16", "--checkpointing_steps", "2"]
    assert run(gan_args(dataset, out, *extra, "--max_train_steps", "2")) == 0
    changed = ["--pairwise_probability", "0.3", "--ema_decay", "0.99", "--checkpointing_steps", "3"]
    assert (
        run(gan_args(dataset, out, *extra, *changed, "--max_train_steps", "3", "--resume_from_checkpoint", "latest"))
        == 0
    )
    assert (
        run(gan_args(dataset, out, *extra, *changed, "--max_train_steps", "4", "--resume_from_checkpoint", "latest"))
        == 0
    )
    state = ckpt.read_training_state(out / "checkpoints" / "gan" / "checkpoint-4")
    assert (state["config"]["pairwise_mode"], state["config"]["pairwise_constant"]) == ("constant", 0.3)
    first, second = state["history"]
    assert first["iteration"] == 2 and first["changes"] == {
        "ema_decay": [0.999, 0.99],
        "max_iterations": [2, 3],
        "options.checkpointing_steps": [2, 3],
        "options.max_train_steps": [2, 3],
        "pairwise_constant": [0.1, 0.3],
        "pairwise_mode": ["decay", "constant"],
    }
    assert second == {
        "iteration": 3,
        "num_images_seen": 24,
        "changes": {"max_iterations": [3, 4], "options.max_train_steps": [3, 4]},
    }


def test_resume_under_another_architecture_is_refused(dataset, tmp_path):
    out = tmp_path / "out"
    assert run(gan_args(dataset, out, "--images_per_phase", "16", "--max_train_steps", "1")) == 0
    config = get_config("tiny").to_dict()
    config.update(z_dim=64, fade_images=16, stable_images=16)
    path = tmp_path / "wider.json"
    path.write_text(json.dumps(config))
    with pytest.raises(train_accelerate.TrainingInputError, match=r"z_dim: 32 -> 64  \(architecture"):
        run(
            gan_args(
                dataset, out, "--config", str(path), "--max_train_steps", "2", "--resume_from_checkpoint", "latest"
            )
        )


def test_resume_under_another_data_order_is_refused(dataset, tmp_path):
    out = tmp_path / "out"
    assert run(gan_args(dataset, out, "--images_per_phase", "16", "--max_train_steps", "1")) == 0
    resume = ["--max_train_steps", "2", "--resume_from_checkpoint", "latest"]
    with pytest.raises(train_accelerate.TrainingInputError, match="--seed 0 -> 1"):
        run(gan_args(dataset, out, "--images_per_phase", "16", "--seed", "1", *resume))
    assert run(gan_args(dataset, out, "--images_per_phase", "16", *resume)) == 0


def test_when_every_video_is_unusable_the_error_says_what_happened_to_each(dataset, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (videos / name).write_bytes(b"not a video" * 20)
    shutil.copytree(dataset["videos"] / "short", videos / "short")
    out = tmp_path / "out"
    argv = gan_args(dataset, out, "--max_train_steps", "1", "--cache_dir", str(tmp_path / "cache"))
    argv[argv.index("--video_dir") + 1] = str(videos)
    message = "all 3 videos were skipped: 2 unreadable, 1 shorter than 2 frames; see the warnings above"
    with pytest.raises(train_accelerate.TrainingInputError, match=message):
        run(argv)
    assert not (out / "checkpoints").exists()
    prepare = ["prepare", "--video_dir", str(videos), "--cache_dir", str(tmp_path / "cache2"), "--resolutions", "8"]
    with pytest.raises(train_accelerate.TrainingInputError, match=f"nothing usable to cache: {message}"):
        run(prepare)


def test_help_says_how_to_run_two_processes_on_cpu(capsys):
    with pytest.raises(SystemExit):
        train_accelerate.parse_args(["gan", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no"
        in text
    )


def test_help_names_the_defaults_once(capsys):
    with pytest.raises(SystemExit):
        train_accelerate.parse_args(["encoder", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"generator samples per iteration (default: {train_accelerate.ENCODER_BATCH})" in text
    assert "save a checkpoint every N iterations (default: 500)" in text
    # a flag's own help says what it does; "(default: True)" on --no_pretrained_backbone would say the opposite
    assert "(default: True)" not in text and "(default: None)" not in text


def test_resuming_from_an_earlier_checkpoint_sets_the_later_ones_aside(dataset, tmp_path, caplog):
    out = tmp_path / "out"
    extra = ["--images_per_phase", "16", "--checkpointing_steps", "2", "--checkpoints_total_limit", "2"]
    assert run(gan_args(dataset, out, *extra, "--max_train_steps", "6")) == 0
    root = out / "checkpoints" / "gan"
    (root / ".tmp-checkpoint-8").mkdir()  # a save that crashed
    earlier = str(root / "checkpoint-4")
    with caplog.at_level("WARNING"):
        assert run(gan_args(dataset, out, *extra, "--max_train_steps", "10", "--resume_from_checkpoint", earlier)) == 0
    assert "later checkpoint(s) of the run it leaves are moved to" in caplog.text
    # this run's checkpoints are the newest (the limit pruned its own oldest, not them), the left run's are kept
    assert [path.name for path in ckpt.list_checkpoints(root)] == ["checkpoint-8", "checkpoint-10"]
    assert ckpt.resolve_resume_path(root, "latest") == root / "checkpoint-10"
    assert ckpt.verify_checkpoint(root / "abandoned" / "checkpoint-6") == []
    assert not (root / ".tmp-checkpoint-8").exists()


def test_counting_options_must_be_at_least_one(capsys):
    with pytest.raises(SystemExit):
        train_accelerate.parse_args(["gan", "--output_dir", "out", "--checkpointing_steps", "0"])
    assert "--checkpointing_steps: must be at least 1, got 0" in capsys.readouterr().err
