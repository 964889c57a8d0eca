"""Synthetic-video rendering speed on CPU against the machine's FLOP floor (DESIGN section 5).

Renders ``--frames`` (100) frames at 256 px with the official-size generator (random weights, so no download) and
reports: seconds per frame in batches and one frame at a time, FLOPs per frame from our hook counter (cross-checked
with torch's FlopCounterMode), the GFLOP/s of a 2048 x 2048 fp32 matmul probe run before and after, the ratio of the
measured time to the floor FLOPs / probe rate (target <= 1.5), the share spent warping the dynamic noise, and the
peak RSS (target < 3 GB). Usage::

    python benchmarks/bench_generate.py [--frames 100] [--single-frames 8] [--batch-size 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import (  # noqa: E402
    FlopCounter,
    environment,
    matmul_rates,
    peak_rss_gb,
    print_table,
    torch_flop_count,
    write_json,
)

from deeplandscape_hf import DeepLandscapeGenerator, GeneratorConfig  # noqa: E402
from deeplandscape_hf.networks.layers import NoiseInjection  # noqa: E402
from deeplandscape_hf.networks.synthetic import plan_video, tune_cpu_allocator  # noqa: E402

FLOOR_RATIO_TARGET = 1.5  # DESIGN section 5: within 1.5x of the FLOP floor
PEAK_RSS_TARGET_GB = 3.0  # DESIGN section 5: 100 frames at 256 px under 3 GB


def build_model(resolution: int) -> DeepLandscapeGenerator:
    """The authors' architecture at ``resolution`` with random weights and non-zero noise weights."""
    torch.manual_seed(0)
    model = DeepLandscapeGenerator(GeneratorConfig(resolution=resolution)).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, NoiseInjection):
                module.weight.normal_(0, 0.1)
    model.compute_w_avg(num_samples=1024)
    return model


def seconds_per_frame(plan, num_frames: int, batch_size: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds summed over threads) per frame."""
    wall, cpu = time.perf_counter(), time.process_time()
    plan.render(np.arange(num_frames), batch_size=batch_size)
    return (time.perf_counter() - wall) / num_frames, (time.process_time() - cpu) / num_frames


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100, help="frames rendered in batches")
    parser.add_argument("--single-frames", type=int, default=8, help="frames rendered one at a time")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--motion", default="m01")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--no-allocator-tuning",
        action="store_true",
        help="measure with glibc's default malloc settings (deeplandscape generate tunes them, see tune_cpu_allocator)",
    )
    args = parser.parse_args(argv)
    allocator_tuned = False if args.no_allocator_tuning else tune_cpu_allocator()

    model = build_model(args.resolution)
    plan = plan_video(model, args.frames, seed=0, motion=args.motion)

    # 1. FLOPs of one frame, counted two independent ways.
    with FlopCounter(model) as counter:
        plan.render([0], batch_size=1)
    flops = counter.total
    # FlopCounterMode's module tracker needs autograd graphs: run one frame outside no_grad / inference mode.
    w_plus = plan.w_plus([0]).clone()
    dynamic = [level.clone() for level in plan.dynamic_noise_at([0])]
    torch_flops = torch_flop_count(lambda: model.synthesize(w_plus, plan.static_noise, dynamic))

    # 2. Probe, warm-up, the measured runs, probe again (the machine is shared: take the better probe).
    probe_before, probe_cpu_before = matmul_rates()
    plan.render([0, 1], batch_size=2)
    batched, batched_cpu = seconds_per_frame(plan, args.frames, args.batch_size)
    single, single_cpu = seconds_per_frame(plan, args.single_frames, 1)
    start = time.perf_counter()
    for begin in range(0, args.frames, args.batch_size):
        plan.dynamic_noise_at(np.arange(begin, min(begin + args.batch_size, args.frames)))
    warp = (time.perf_counter() - start) / args.frames
    probe_after, probe_cpu_after = matmul_rates()
    probe = max(probe_before, probe_after)
    probe_cpu = max(probe_cpu_before, probe_cpu_after)

    floor = flops / (probe * 1e9)
    floor_cpu = flops / (probe_cpu * 1e9)
    results = {
        "resolution": args.resolution,
        "frames": args.frames,
        "batch_size": args.batch_size,
        "s_per_frame_batched": batched,
        "s_per_frame_single": single,
        "batched_over_single": batched / single,
        "cpu_s_per_frame_batched": batched_cpu,
        "cpu_s_per_frame_single": single_cpu,
        "gflops_per_frame": flops / 1e9,
        "gflops_per_frame_torch_counter": torch_flops / 1e9,
        "flops_by_layer_type": dict(counter.by_type),
        "uncounted_layer_types": sorted(counter.uncounted),
        "probe_gflops_before": probe_before,
        "probe_gflops_after": probe_after,
        "probe_gflops_per_cpu_s": probe_cpu,
        "floor_s_per_frame": floor,
        "ratio_to_floor": batched / floor,
        "cpu_ratio_to_floor": batched_cpu / floor_cpu,
        "ratio_target": FLOOR_RATIO_TARGET,
        "noise_warp_s_per_frame": warp,
        "allocator_tuned": allocator_tuned,
        "peak_rss_gb": peak_rss_gb(),
        "peak_rss_target_gb": PEAK_RSS_TARGET_GB,
        "environment": environment(),
    }
    rows = [
        ("frames", f"{args.frames}", f"{args.resolution} px, batch {args.batch_size}, motion {args.motion}"),
        ("s/frame batched", f"{batched:.3f}", f"CPU {batched_cpu:.3f} s/frame over all threads"),
        ("s/frame single", f"{single:.3f}", f"{args.single_frames} frames, batch 1; CPU {single_cpu:.3f}"),
        ("batched / single", f"{batched / single:.2f}", f"target <= 1.0 (CPU time: {batched_cpu / single_cpu:.2f})"),
        ("GFLOPs/frame (ours)", f"{flops / 1e9:.2f}", "2 x MACs of conv / transposed conv / linear / blur"),
        ("GFLOPs/frame (torch)", f"{torch_flops / 1e9:.2f}", "torch.utils.flop_counter cross-check"),
        ("probe GFLOP/s", f"{probe:.1f}", f"2048^2 fp32 matmul, before {probe_before:.1f} / after {probe_after:.1f}"),
        ("floor s/frame", f"{floor:.3f}", "GFLOPs/frame / probe"),
        ("ratio to floor", f"{batched / floor:.2f}", f"target <= {FLOOR_RATIO_TARGET} (wall time)"),
        (
            "ratio to floor, CPU",
            f"{batched_cpu / floor_cpu:.2f}",
            f"same in CPU time; probe {probe_cpu:.1f} GFLOP/CPU-s",
        ),
        ("noise warp s/frame", f"{warp:.4f}", f"{warp / batched:.1%} of the batched time"),
        ("peak RSS GB", f"{results['peak_rss_gb']:.2f}", f"target < {PEAK_RSS_TARGET_GB}"),
        ("torch threads", f"{torch.get_num_threads()}", ""),
        ("allocator tuned", f"{allocator_tuned}", "glibc mmap off + high trim threshold (as deeplandscape generate)"),
    ]
    print_table(rows, "deeplandscape generate: CPU rendering")
    if counter.uncounted:
        print(f"warning: layers with weights not counted: {sorted(counter.uncounted)}")
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
