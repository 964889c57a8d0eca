"""Two-process data-parallel GAN training on CPU (gloo): identical ranks, and Ctrl-C that resumes bit-exactly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from deeplandscape_hf.training import checkpoint as ckpt

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT)}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    from PIL import Image

    from deeplandscape_hf.training.procedural import render_landscape, write_procedural_dataset

    if shutil.which("accelerate") is None:
        pytest.skip("the accelerate launcher is not installed")
    root = tmp_path_factory.mktemp("data")
    images, videos = root / "images", root / "videos"
    images.mkdir()
    for seed in range(3):
        Image.fromarray(render_landscape(1, (24, 32), seed=seed).frames[0]).save(images / f"p{seed}.png")
    write_procedural_dataset(videos, num_videos=2, num_frames=4, size=(24, 32), seed=3)
    return {"images": images, "videos": videos, "cache": root / "cache"}


def two_processes(data: dict[str, Path], out: Path, port: int, *extra: str) -> list[str]:
    """The documented way to run two real processes on CPU."""
    launch = ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    launch += ["--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port)]
    script = [str(REPO_ROOT / "train_accelerate.py"), "gan", "--config", "tiny", "--images_per_phase", "16"]
    script += [
        "--image_dir",
        str(data["images"]),
        "--video_dir",
        str(data["videos"]),
        "--cache_dir",
        str(data["cache"]),
    ]
    script += ["--output_dir", str(out), "--report_to", "none", "--cpu_threads", "1", "--sample_steps", "1000"]
    return [*launch, *script, *extra]


@pytest.mark.slow
def test_two_process_run_keeps_ranks_identical(data, tmp_path):
    out = tmp_path / "out"
    command = two_processes(data, out, 29517, "--max_train_steps", "6", "--checkpointing_steps", "3")
    result = subprocess.run(command, capture_output=True, text=True, timeout=400, env=ENV, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for iteration in (3, 6):
        state = ckpt.read_training_state(out / "checkpoints" / "gan" / f"checkpoint-{iteration}")
        assert state["num_processes"] == 2
        digests = state["weights_sha256_per_rank"]
        assert len(digests) == 2 and digests[0] == digests[1]
        # the tiny batch of 8 is split 4 + 4, and both halves count
        assert state["num_images_seen"] == 8 * iteration
    assert (out / "model.safetensors").is_file() and (out / "discriminators" / "pairwise" / "config.json").is_file()


@pytest.mark.slow
def test_ctrl_c_on_two_processes_saves_once_and_resumes_bit_exactly(data, tmp_path):
    stopped, straight = tmp_path / "stopped", tmp_path / "straight"
    endless = ["--max_train_steps", "100000", "--checkpointing_steps", "100000"]
    log = tmp_path / "stopped.log"
    with open(log, "w") as handle:
        launcher = subprocess.Popen(
            two_processes(data, stopped, 29518, *endless), stdout=handle, stderr=subprocess.STDOUT, env=ENV
        )
        try:
            deadline = time.monotonic() + 300
            while "phase 1: 16 px" not in log.read_text():  # training has run a few iterations
                assert launcher.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
            launcher.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends the launcher
            launcher.wait(timeout=120)
        finally:
            launcher.kill()
    output = log.read_text()
    (saved,) = ckpt.list_checkpoints(stopped / "checkpoints" / "gan")
    iteration = ckpt.checkpoint_iteration(saved)
    state = ckpt.read_training_state(saved)
    assert state["num_processes"] == 2 and len(set(state["weights_sha256_per_rank"])) == 1
    lines = [line for line in output.splitlines() if "stopped by SIGINT; saved" in line]
    assert len(lines) == 1 and f"saved {saved}" in lines[0] and lines[0].endswith("--resume_from_checkpoint latest")
    assert (stopped / ".training.lock").read_text() == "" and not (stopped / "model.safetensors").exists()

    more = ["--max_train_steps", str(iteration + 2), "--checkpointing_steps", "100000"]
    for out, port, resume in ((stopped, 29519, ["--resume_from_checkpoint", "latest"]), (straight, 29520, [])):
        result = subprocess.run(
            two_processes(data, out, port, *more, *resume), capture_output=True, text=True, timeout=400, env=ENV
        )
        assert result.returncode == 0, result.stderr[-3000:]
    name = f"checkpoint-{iteration + 2}"
    a, b = (out / "checkpoints" / "gan" / name for out in (straight, stopped))
    files = sorted(p.name for p in a.glob("*.safetensors"))
    assert files == sorted(p.name for p in b.glob("*.safetensors")) and "rng_rank1.safetensors" in files
    for file in files:
        first, second = load_file(str(a / file)), load_file(str(b / file))
        assert first.keys() == second.keys()
        assert all(first[k].equal(second[k]) for k in first), file
