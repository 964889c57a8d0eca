"""The cost of moving the photo's own sky at full resolution (``motion_source="hybrid"``).

Targets on the 2-core CPU: rendering 60 frames of a 1920x1080 photo adds <= 20 s over the same 60 frames of a
512 px photo, and 100 frames at 1920x1080 stay under 3 GB peak RSS (the frames, the video writer and everything
else of the process included). One inversion is rendered at both output sizes (the 1080p photo is the 512 px photo
scaled up, so the generator's work is identical and only the full-resolution part differs); the memory case runs
in a fresh process so its peak is its own.

    python benchmarks/bench_motion.py [--photo PHOTO] [--frames 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import environment, peak_rss_gb  # noqa: E402

from deeplandscape_hf import DeepLandscapePipeline  # noqa: E402
from deeplandscape_hf.animation.video import write_video  # noqa: E402

FULL_HD = (1920, 1080)
SMALL_SHORT_SIDE = 512


def photos(source: Path, folder: Path) -> tuple[Path, Path]:
    """The photo at 512 px on its shorter side and the same picture at 1920x1080 (scaled and centre-cropped)."""
    image = Image.open(source).convert("RGB")
    scale = SMALL_SHORT_SIDE / min(image.size)
    small = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    cover = max(FULL_HD[0] / image.width, FULL_HD[1] / image.height)
    big = image.resize((round(image.width * cover), round(image.height * cover)), Image.Resampling.LANCZOS)
    left, top = (big.width - FULL_HD[0]) // 2, (big.height - FULL_HD[1]) // 2
    big = big.crop((left, top, left + FULL_HD[0], top + FULL_HD[1]))
    paths = folder / "small.png", folder / "full_hd.png"
    small.save(paths[0])
    big.save(paths[1])
    return paths


def render(pipe: DeepLandscapePipeline, photo: Path, frames: int, out: Path | None = None) -> dict[str, float]:
    """Invert (fast preset) and animate ``photo``; seconds of the animation alone, and of writing the video."""
    generator = torch.Generator().manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inverted = pipe.invert(str(photo), preset="fast", generator=generator, perceptual="none")
        start = time.perf_counter()
        result = pipe.animate(inverted, motion="man1", num_frames=frames)
        animate_s = time.perf_counter() - start
    timings = {"animate_s": animate_s, "render_s": result.timings["render"], "composite_s": result.timings["composite"]}
    if out is not None:
        start = time.perf_counter()
        write_video(result.frames, out, fps=result.fps)
        timings["write_s"] = time.perf_counter() - start
    return timings


def memory_case(photo: Path, frames: int, folder: Path) -> float:
    """Peak RSS (GB) of a fresh process that animates ``photo`` into ``frames`` frames and writes the mp4."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + '/benchmarks');"
        "from pathlib import Path; from bench_motion import render; from _common import peak_rss_gb;"
        "from deeplandscape_hf import DeepLandscapePipeline;"
        "pipe = DeepLandscapePipeline.from_pretrained(); pipe.set_progress_bar_config(disable=True);"
        "render(pipe, Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])); print(peak_rss_gb())"
    )
    output = subprocess.run(
        [sys.executable, "-c", code, str(REPO), str(photo), str(frames), str(folder / "memory.mp4")],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(output.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", type=Path, default=REPO / "examples" / "mountains_clouds_01.jpg")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--memory-frames", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    pipe = DeepLandscapePipeline.from_pretrained()
    pipe.set_progress_bar_config(disable=True)
    with tempfile.TemporaryDirectory() as folder:
        small, big = photos(args.photo, Path(folder))
        small_s = render(pipe, small, args.frames)
        big_s = render(pipe, big, args.frames)
        small_again = render(pipe, small, args.frames)  # interleaved: the machine's speed drifts
        small_mean = (small_s["animate_s"] + small_again["animate_s"]) / 2
        rss = memory_case(big, args.memory_frames, Path(folder))
    added = big_s["animate_s"] - small_mean
    report = {
        "environment": environment(),
        "photo": str(args.photo),
        "frames": args.frames,
        "animate_512px_s": round(small_mean, 2),
        "animate_1080p_s": round(big_s["animate_s"], 2),
        "added_by_1080p_s": round(added, 2),
        "stages_1080p_s": {k: round(v, 2) for k, v in big_s.items()},
        "peak_rss_gb_100_frames_1080p": round(rss, 2),
        "peak_rss_gb_this_process": round(peak_rss_gb(), 2),
    }
    print(
        f"60 frames: 512 px {small_mean:.1f} s, 1920x1080 {big_s['animate_s']:.1f} s -> adds {added:.1f} s "
        f"(target <= 20 s); {args.memory_frames} frames at 1920x1080 incl. mp4: peak RSS {rss:.2f} GB (target < 3 GB)"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
