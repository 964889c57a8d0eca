"""GAN training throughput on CPU (images per second), for the ``tiny`` config and a 64 px config.

Runs ``train_accelerate.py gan`` in-process on procedural data, at the final resolution from the first iteration
(``initial_resolution`` = resolution, so the number is not an average over cheap 8 px phases), and reads the
trainer's own ``images_per_s`` (measured from the first iteration, data loading, both D kinds, crops, R1, G step and
EMA included; setup and the final export excluded). A 2048 x 2048 matmul probe runs before and after, since the
machine is shared and its speed swings: compare ``images_per_s / probe_gflops`` across runs. Usage::

    python benchmarks/bench_training.py [--iterations-tiny 40] [--iterations-64 16] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import environment, matmul_gflops, print_table, write_json  # noqa: E402

import train_accelerate  # noqa: E402
from deeplandscape_hf.training import checkpoint as ckpt  # noqa: E402
from deeplandscape_hf.training.configs import get_config  # noqa: E402


def _configs() -> dict[str, dict]:
    tiny = get_config("tiny").to_dict()
    tiny.update(initial_resolution=16, max_kimg=None, max_iterations=10**9)
    small = get_config("default-small").to_dict()
    channels = small["generator_channels"][:5]  # 4 .. 64 px
    small.update(
        name="bench-64",
        resolution=64,
        generator_channels=channels,
        discriminator_channels=channels,
        pairwise_channels=channels,
        initial_resolution=64,
        batch_sizes={"64": 16},
        learning_rates={"64": 1e-3},
        max_kimg=None,
        max_iterations=10**9,
    )
    return {"tiny (16 px, batch 8)": tiny, "64 px (default-small widths, batch 16)": small}


def _make_data(root: Path) -> tuple[Path, Path]:
    from PIL import Image

    from deeplandscape_hf.training.procedural import render_landscape, write_procedural_dataset

    images, videos = root / "images", root / "videos"
    images.mkdir()
    for seed in range(6):
        Image.fromarray(render_landscape(1, (80, 112), seed=seed).frames[0]).save(images / f"photo_{seed}.png")
    write_procedural_dataset(videos, num_videos=4, num_frames=8, size=(80, 112), seed=1)
    return images, videos


def _run(config: dict, iterations: int, root: Path, images: Path, videos: Path, threads: int) -> dict:
    from accelerate.state import AcceleratorState, GradientState

    config_path = root / f"{abs(hash(config['name']))}.json"
    config_path.write_text(json.dumps(config))
    out = root / f"out-{config_path.stem}"
    argv = [
        "gan", "--config", str(config_path), "--image_dir", str(images), "--video_dir", str(videos),
        "--cache_dir", str(root / "cache"), "--output_dir", str(out), "--max_train_steps", str(iterations),
        "--checkpointing_steps", str(iterations), "--sample_steps", str(10**9), "--report_to", "none",
        "--cpu_threads", str(threads),
    ]  # fmt: skip
    started = time.perf_counter()
    try:
        train_accelerate.main(train_accelerate.parse_args(argv))
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    total_s = time.perf_counter() - started
    state = ckpt.read_training_state(ckpt.latest_checkpoint(out / "checkpoints" / "gan"))
    return {
        "iterations": state["iteration"],
        "images": state["num_images_seen"],
        "images_per_s": state["images_per_s"],
        "wall_s_including_setup_and_export": round(total_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations-tiny", type=int, default=40)
    parser.add_argument("--iterations-64", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy machine)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    probe_before = matmul_gflops()
    results: dict = {"environment": environment(), "threads": args.threads, "runs": {}}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        images, videos = _make_data(root)
        for (name, config), iterations in zip(_configs().items(), (args.iterations_tiny, args.iterations_64)):
            results["runs"][name] = _run(config, iterations, root, images, videos, args.threads)
    probe_after = matmul_gflops()
    results["probe_gflops_fp32"] = {"before": round(probe_before, 1), "after": round(probe_after, 1)}
    rows = [
        (name, f"{run['images_per_s']:.1f} img/s", f"{run['iterations']} it, {run['images']} images")
        for name, run in results["runs"].items()
    ]
    rows.append(("matmul probe", f"{probe_before:.0f} / {probe_after:.0f} GFLOP/s", "before / after"))
    print_table(rows, f"GAN training throughput on CPU ({args.threads} thread(s), torch {torch.__version__})")
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
