"""Two-process data-parallel GAN training on CPU (gloo): both ranks must end with identical weights."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from deeplandscape_hf.training import checkpoint as ckpt

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_process_run_keeps_ranks_identical(tmp_path):
    from deeplandscape_hf.procedural import render_landscape, write_procedural_dataset

    if shutil.which("accelerate") is None:
        pytest.skip("the accelerate launcher is not installed")
    from PIL import Image

    images, videos, out = tmp_path / "images", tmp_path / "videos", tmp_path / "out"
    images.mkdir()
    for seed in range(3):
        Image.fromarray(render_landscape(1, (24, 32), seed=seed).frames[0]).save(images / f"p{seed}.png")
    write_procedural_dataset(videos, num_videos=2, num_frames=4, size=(24, 32), seed=3)
    command = [
        "accelerate",
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "29517",
        str(REPO_ROOT / "train_accelerate.py"),
        "gan",
        "--config",
        "tiny",
        "--image_dir",
        str(images),
        "--video_dir",
        str(videos),
        "--output_dir",
        str(out),
        "--images_per_phase",
        "16",
        "--max_train_steps",
        "6",
        "--checkpointing_steps",
        "3",
        "--report_to",
        "none",
        "--cpu_threads",
        "1",
        "--sample_steps",
        "1000",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=400, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for iteration in (3, 6):
        state = ckpt.read_training_state(out / "checkpoints" / "gan" / f"checkpoint-{iteration}")
        assert state["num_processes"] == 2
        digests = state["weights_sha256_per_rank"]
        assert len(digests) == 2 and digests[0] == digests[1]
        # the tiny batch of 8 is split 4 + 4, and both halves count
        assert state["num_images_seen"] == 8 * iteration
    assert (out / "model.safetensors").is_file() and (out / "discriminators" / "pairwise" / "config.json").is_file()
