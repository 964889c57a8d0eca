"""Camera-sized photos: what a 200 MP JPEG and a 50 MP PNG cost over a 12 MP JPEG, photo file to mp4; writes JSON.

Targets (2-core CPU, fast preset, 60 frames, the default 1920 px output): a 200 MP JPEG adds at most 10 s over a
12 MP one and peaks at <= 3 GB of resident memory; a 50 MP PNG, which has no reduced decode and is decoded in full,
peaks at <= 4 GB.

    python benchmarks/bench_photos.py                       # bundled model, fast preset, 60 frames
    python benchmarks/bench_photos.py --frames 12 --json .benchmarks/photos.json

Each photo is made in a process of its own (the 600 MB bitmap of a 200 MP photo must not count) and then animated in
a fresh process, as ``deeplandscape animate`` does: ``DeepLandscapePipeline`` on the file, then ``write_video`` to
mp4. Each animation's seconds (model loading excluded: it is the same for every photo) and peak RSS are its own
process's. A third process decodes the photo alone, as the pipeline does, to show what the file itself costs (the
peak of a whole run is set later, by the 60 frames held for the video writer). The photos show the same smooth
picture at every size (gradients with soft blotches, so the files stay small), so the inversion sees nearly the same
1920 px picture and the difference between sizes is what the file costs. The machine is shared and its speed swings
with load, so the time target is judged on CPU seconds (see ``summarise``; wall seconds are reported too), and the
12 MP baseline runs first and again last, the 200 MP run being compared with their mean, all within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# (label, width, height, format): the 12 MP baseline is measured before and after the large photos.
PHOTOS = (
    ("12mp_jpeg", 4000, 3000, "jpg"),
    ("200mp_jpeg", 16320, 12240, "jpg"),
    ("50mp_png", 8160, 6120, "png"),
    ("12mp_jpeg_again", 4000, 3000, "jpg"),
)
ADDED_SECONDS_TARGET = 10.0  # 200 MP JPEG over 12 MP JPEG
JPEG_200MP_RSS_TARGET_GB = 3.0
PNG_50MP_RSS_TARGET_GB = 4.0
BLOTCH_PX = 64  # the soft blotches are this many px apart at every size: the same picture, not finer texture


def smooth_photo(width: int, height: int):
    """A sky-like picture of any size, made in PIL's C code (seconds even at 200 MP): gradients and soft blotches."""
    from PIL import Image

    horizontal = Image.linear_gradient("L").rotate(90).resize((width, height), Image.Resampling.BILINEAR)
    vertical = Image.linear_gradient("L").resize((width, height), Image.Resampling.BILINEAR)
    blotches = Image.effect_noise((max(1, width // BLOTCH_PX), max(1, height // BLOTCH_PX)), 48)
    blotches = blotches.resize((width, height), Image.Resampling.BICUBIC)
    return Image.merge("RGB", (horizontal, vertical, blotches))


def make_worker(width: int, height: int, path: Path) -> dict[str, Any]:
    """Write the photo (JPEG quality 90 as cameras do; PNG at the fastest compression, which decodes the same)."""
    start = time.perf_counter()
    photo = smooth_photo(width, height)
    if path.suffix == ".png":
        photo.save(path, compress_level=1)
    else:
        photo.save(path, quality=90)
    return {"make_s": time.perf_counter() - start, "file_mb": path.stat().st_size / 1e6}


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024**3 if sys.platform == "darwin" else 1024**2)


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads together."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def animate_worker(photo: Path, model: str | None, preset: str, frames: int, threads: int | None) -> dict[str, Any]:
    """Photo file -> mp4 in this process; seconds from the file to the written video, and this process's peak RSS."""
    import torch

    from deeplandscape_hf.animation.pipeline import DeepLandscapePipeline
    from deeplandscape_hf.animation.video import write_video
    from deeplandscape_hf.networks.hub import ModelNotFoundError

    if threads:
        torch.set_num_threads(threads)
    notes = []
    try:
        pipe = DeepLandscapePipeline.from_pretrained(model, device="cpu")
    except ModelNotFoundError as error:
        if model is not None:
            raise
        from bench_animate import random_model

        notes.append(f"bundled model missing ({error}); a RANDOM-WEIGHTS stand-in model was timed")
        pipe = random_model()
    pipe.set_progress_bar_config(disable=True)
    with tempfile.TemporaryDirectory(prefix="bench-photos-") as folder:
        start, cpu_start = time.perf_counter(), cpu_seconds()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = pipe(str(photo), preset=preset, num_frames=frames, generator=torch.Generator().manual_seed(0))
            write_video(out.frames, Path(folder) / "video.mp4", fps=out.fps)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    notes += sorted({str(warning.message).split(".")[0] for warning in caught})
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "peak_rss_gb": peak_rss_gb(),
        "output_size": list(out.frames[0].size),
        "stages_s": {name: round(value, 2) for name, value in out.timings.items()},
        "threads": torch.get_num_threads(),
        "notes": notes,
    }


def decode_worker(photo: Path) -> dict[str, Any]:
    """The photo's decode alone, as the pipeline does it with its default settings, in this fresh process."""
    from deeplandscape_hf.animation.images import load_image, parse_max_side
    from deeplandscape_hf.animation.pipeline import PipelineConfig

    config = PipelineConfig()
    before_gb, start = peak_rss_gb(), cpu_seconds()  # after the imports (torch), which every run pays
    image = load_image(photo, max_side=parse_max_side(config.max_output_side), min_short_side=config.max_in_resolution)
    return {
        "decode_cpu_s": cpu_seconds() - start,
        "decode_peak_rss_gb": peak_rss_gb(),
        "decode_added_rss_gb": peak_rss_gb() - before_gb,
        "decoded_size": list(image.size),
    }


def run_worker(arguments: list[str]) -> dict[str, Any]:
    """This script again, in a fresh process; its last stdout line is the JSON result."""
    command = [sys.executable, str(Path(__file__).resolve()), *arguments]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments[:2])} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def summarise(results: dict[str, dict[str, Any]], frames: int, preset: str) -> dict[str, Any]:
    """The three numbers the targets are stated for, judged only for the run they are stated for.

    The time target is judged on CPU seconds: on a shared machine the wall time of the same work swings by minutes
    with the load, its CPU time much less (it still grows when threads wait on busy cores), and added CPU seconds
    bound the added wall seconds of a machine of our own (work spread over 2 cores takes at most its CPU time). Wall
    seconds are reported beside them, and the decode alone: the only part of a run that depends on the file, since
    every photo reaches the pipeline as the same 1920 px picture.
    """

    def mean_12mp(key: str) -> float:
        return (results["12mp_jpeg"][key] + results["12mp_jpeg_again"][key]) / 2

    applies = frames == 60 and preset == "fast"
    added = results["200mp_jpeg"]["cpu_s"] - mean_12mp("cpu_s")
    jpeg_rss = results["200mp_jpeg"]["peak_rss_gb"]
    png_rss = results["50mp_png"]["peak_rss_gb"]
    return {
        "baseline_12mp_cpu_s": mean_12mp("cpu_s"),
        "added_cpu_s_200mp_jpeg": added,
        "added_cpu_s_50mp_png": results["50mp_png"]["cpu_s"] - mean_12mp("cpu_s"),
        "added_decode_cpu_s_200mp_jpeg": results["200mp_jpeg"]["decode_cpu_s"] - mean_12mp("decode_cpu_s"),
        "baseline_12mp_wall_s": mean_12mp("seconds"),
        "added_wall_s_200mp_jpeg": results["200mp_jpeg"]["seconds"] - mean_12mp("seconds"),
        "added_wall_s_50mp_png": results["50mp_png"]["seconds"] - mean_12mp("seconds"),
        "peak_rss_gb_12mp_jpeg": max(results["12mp_jpeg"]["peak_rss_gb"], results["12mp_jpeg_again"]["peak_rss_gb"]),
        "peak_rss_gb_200mp_jpeg": jpeg_rss,
        "peak_rss_gb_50mp_png": png_rss,
        "decode_added_rss_gb": {label: entry["decode_added_rss_gb"] for label, entry in results.items()},
        "targets_apply": applies,
        "met": {
            "added_cpu_s_200mp_jpeg<=10": added <= ADDED_SECONDS_TARGET,
            "peak_rss_gb_200mp_jpeg<=3": jpeg_rss <= JPEG_200MP_RSS_TARGET_GB,
            "peak_rss_gb_50mp_png<=4": png_rss <= PNG_50MP_RSS_TARGET_GB,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the bundled model)")
    parser.add_argument("--preset", default="fast", choices=("fast", "balanced", "paper"))
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--make", nargs=3, metavar=("W", "H", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--animate", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--decode", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.make:
        print(json.dumps(make_worker(int(args.make[0]), int(args.make[1]), Path(args.make[2]))))
        return 0
    if args.decode:
        print(json.dumps(decode_worker(args.decode)))
        return 0
    if args.animate:
        print(json.dumps(animate_worker(args.animate, args.model, args.preset, args.frames, args.threads)))
        return 0

    settings = ["--preset", args.preset, "--frames", str(args.frames)]
    settings += ["--threads", str(args.threads)] if args.threads else []
    settings += ["--model", args.model] if args.model else []
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-photos-") as folder:
        for label, width, height, suffix in PHOTOS:
            path = Path(folder) / f"{width}x{height}.{suffix}"
            made = {} if path.exists() else run_worker(["--make", str(width), str(height), str(path)])
            decoded = run_worker(["--decode", str(path)])
            animated = run_worker(["--animate", str(path), *settings])
            results[label] = {"size": [width, height], **made, **decoded, **animated}
            print(
                f"{label:>16}: {width}x{height} ({width * height / 1e6:.0f} MP, {path.stat().st_size / 1e6:.1f} MB) "
                f"-> {animated['output_size'][0]}x{animated['output_size'][1]}: {animated['cpu_s']:.1f} CPU s "
                f"({animated['seconds']:.1f} s wall), peak {animated['peak_rss_gb']:.2f} GB; decoding alone "
                f"{decoded['decode_cpu_s']:.2f} CPU s, +{decoded['decode_added_rss_gb']:.2f} GB over the imports",
                flush=True,
            )
    summary = summarise(results, args.frames, args.preset)
    report = {
        "preset": args.preset,
        "frames": args.frames,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "summary": summary,
        "photos": results,
    }
    print(
        f"200 MP JPEG adds {summary['added_cpu_s_200mp_jpeg']:.1f} CPU s ({summary['added_wall_s_200mp_jpeg']:.1f} s "
        f"wall) over 12 MP (mean {summary['baseline_12mp_cpu_s']:.1f} CPU s), peak "
        f"{summary['peak_rss_gb_200mp_jpeg']:.2f} GB; 50 MP PNG adds {summary['added_cpu_s_50mp_png']:.1f} CPU s, "
        f"peak {summary['peak_rss_gb_50mp_png']:.2f} GB"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
