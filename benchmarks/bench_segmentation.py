"""Speed of the offline sky/water segmentation on a 1920x1080 photo (target: <= 1 s on the 2-core CPU).

Each photo of ``--photos`` (default: three of examples/, a clear sky with cables, a sunset city, a lake) is resized
to ``--size`` (1920x1080) and segmented ``--repeats`` times with the region segmenter (the fallback when the ADE20K
model cannot be loaded), and once per repeat with the older colour rule for comparison. Reported per method: the
median wall seconds and the median process CPU seconds per photo. The segmenter runs on one thread, so on an idle
machine wall time equals CPU time; on a loaded one (load average above the core count) the wall time is inflated and
the CPU time is the fairer figure. Usage::

    python benchmarks/bench_segmentation.py [--size 1920x1080] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import environment, print_table, write_json  # noqa: E402

from deeplandscape_hf.animation.segmentation import HEURISTIC_METHODS, heuristic_segment  # noqa: E402

TARGET_S = 1.0  # one 1920x1080 photo on the 2-core CPU
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEFAULT_PHOTOS = ("beach_bridge_01.jpg", "city_sunset_01.jpg", "lake_dock_01.jpg")


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must look like 1920x1080, got {text!r}") from None
    return width, height


def time_method(photos: list[Image.Image], method: str, repeats: int) -> dict[str, float]:
    """Median wall and CPU seconds per photo over ``repeats`` passes (after one warm-up pass)."""
    for photo in photos[:1]:
        heuristic_segment(photo, method=method)
    walls, cpus = [], []
    for _ in range(repeats):
        for photo in photos:
            wall, cpu = time.perf_counter(), time.process_time()
            heuristic_segment(photo, method=method)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    return {"wall_s": float(np.median(walls)), "cpu_s": float(np.median(cpus))}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=_size, default=(1920, 1080), help="photo size WIDTHxHEIGHT")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--photos", nargs="+", type=Path, default=[EXAMPLES / name for name in DEFAULT_PHOTOS])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    photos = [Image.open(path).convert("RGB").resize(args.size, Image.Resampling.BICUBIC) for path in args.photos]
    results: dict = {
        "environment": environment(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "size": list(args.size),
        "photos": [path.name for path in args.photos],
        "target_s": TARGET_S,
    }
    for method in HEURISTIC_METHODS:
        results[method] = time_method(photos, method, args.repeats)
    rows = [
        (f"{method}: s per {args.size[0]}x{args.size[1]} photo", f"{r['wall_s']:.3f} wall, {r['cpu_s']:.3f} CPU", "")
        for method, r in ((m, results[m]) for m in HEURISTIC_METHODS)
    ]
    rows[0] = (*rows[0][:2], f"<= {TARGET_S:g} s")
    print_table(rows, f"offline segmentation, load average {results['load_average']}")
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
