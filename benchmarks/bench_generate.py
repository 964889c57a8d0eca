"""Synthetic-video rendering speed on CPU against a plain reference forward and the machine's FLOP floor.

With the official-size generator at 256 px (random weights, so no download) it measures, all in one run:

1. frame synthesis, ours against `reference_synthesize` (the authors' arithmetic written plainly: nearest upsample +
   3x3 conv + blur, contiguous memory, kernels scaled on every call as their equal-lr hook does), on the same
   weights and inputs, at batch 1 and ``--batch-size``, interleaved round by round with the same allocator
   settings, so machine load hits both alike; medians of ``--rounds`` rounds. Targets: ours / reference <= 0.8 at
   batch 1 and <= 0.7 at batch 8, and within 1.3x of the FLOP floor at batch 8 (floor = our FLOPs per frame / the
   GFLOP/s of a 2048 x 2048 fp32 matmul probe run before and after);
2. the bf16 autocast path against fp32 (speed, and the PSNR of its frames against the fp32 ones), saying which path
   ``--dtype`` (default auto) picks on this machine;
3. a whole synthetic video through `plan_video(...).render`, batched and one frame at a time (noise warping and the
   mapping included), the share spent warping the dynamic noise, and the peak RSS (target < 3 GB for 100 frames).

``--level-table`` instead times every synthesis level in each of its variants (upsampling as a transposed conv or
upsample + conv, NCHW or NHWC memory): the measurements behind ``CPU_LEVEL_PLANS`` in ``generator.py``. Usage::

    python benchmarks/bench_generate.py [--frames 100] [--batch-size 8] [--rounds 5] [--dtype auto] [--json out.json]
    python benchmarks/bench_generate.py --level-table
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

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
from deeplandscape_hf.networks.generator import SynthesisBlock, level_plan  # noqa: E402
from deeplandscape_hf.networks.layers import ConstantInput, FusedUpsample, NearestUpsampleConv2d, NoiseInjection  # noqa: E402
from deeplandscape_hf.networks.precision import DTYPE_CHOICES, autocast, bf16_is_native, frame_psnr  # noqa: E402
from deeplandscape_hf.networks.synthetic import plan_video, tune_cpu_allocator  # noqa: E402

FLOOR_RATIO_TARGET = 1.3  # at batch 8: within 1.3x of the FLOP floor
REFERENCE_RATIO_TARGETS = {1: 0.8, 8: 0.7}  # ours / reference s/frame at batch 1 and at batch 8
BF16_SPEEDUP_TARGET = 2.0  # bf16 autocast against fp32, where the hardware has native bf16
BF16_PSNR_TARGET_DB = 40.0  # bf16 frames against fp32 frames
PEAK_RSS_TARGET_GB = 3.0  # 100 frames at 256 px under 3 GB


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


# ----------------------------------------------------------------------------------------------- the reference
def _equal_lr(module: torch.nn.Module) -> torch.Tensor:
    return module.weight * module.scale  # the authors' equal-lr hook rescales the weight on every call


def _reference_upsample(block: SynthesisBlock, x: torch.Tensor) -> torch.Tensor:
    upsample, blur = block.conv1
    if isinstance(upsample, FusedUpsample):  # their fused layer: the 3x3 kernel box-filtered to 4x4, transposed conv
        weight = F.pad(_equal_lr(upsample), [1, 1, 1, 1])
        weight = (weight[:, :, 1:, 1:] + weight[:, :, :-1, 1:] + weight[:, :, 1:, :-1] + weight[:, :, :-1, :-1]) / 4
        x = F.conv_transpose2d(x, weight, upsample.bias, stride=2, padding=1)
    else:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.conv2d(x, _equal_lr(upsample), upsample.bias, padding=1)
    return F.conv2d(x, blur.kernel, padding=1, groups=blur.channels)


def _reference_noise_lrelu_adain(x, static, dynamic, adain, w, static_map, dynamic_map) -> torch.Tensor:
    if static is not None:
        x = x + _equal_lr(static) * static_map
    x = F.leaky_relu(x + _equal_lr(dynamic) * dynamic_map, 0.2)
    gamma, beta = F.linear(w, _equal_lr(adain.style), adain.style.bias)[:, :, None, None].chunk(2, dim=1)
    return gamma * F.instance_norm(x, eps=adain.eps) + beta


def reference_synthesize(
    model: DeepLandscapeGenerator,
    w_plus: torch.Tensor,
    static_noise: Sequence[torch.Tensor],
    dynamic_noise: Sequence[torch.Tensor],
) -> torch.Tensor:
    """The authors' synthesis arithmetic, written plainly on ``model``'s weights: the yardstick for our forward.

    Per level: (nearest upsample + 3x3 conv, or their fused transposed conv from 128 px) + blur, static and dynamic
    noise, LeakyReLU, AdaIN (instance norm), then 3x3 conv, noise, LeakyReLU, AdaIN; to-RGB of the last level. NCHW
    contiguous memory throughout and every kernel rescaled on every call, as in their code.
    """
    x = None
    for index, block in enumerate(model.blocks):
        noise = (static_noise[index], dynamic_noise[index])
        if isinstance(block.conv1, ConstantInput):
            x = block.conv1.input.expand(w_plus.shape[0], -1, -1, -1)
        else:
            x = _reference_upsample(block, x)
        x = _reference_noise_lrelu_adain(
            x, block.static_noise1, block.dynamic_noise1, block.adain1, w_plus[:, 2 * index], *noise
        )
        x = F.conv2d(x, _equal_lr(block.conv2), block.conv2.bias, padding=1)
        x = _reference_noise_lrelu_adain(
            x, block.static_noise2, block.dynamic_noise2, block.adain2, w_plus[:, 2 * index + 1], *noise
        )
    to_rgb = model.to_rgb[-1]
    return F.conv2d(x, _equal_lr(to_rgb), to_rgb.bias)


# ----------------------------------------------------------------------------------------------- timing
def synthesis_inputs(model: DeepLandscapeGenerator, batch_size: int, seed: int = 0):
    """(w_plus, static_noise, dynamic_noise) for ``batch_size`` frames, as a video chunk has them."""
    generator = torch.Generator().manual_seed(seed)
    z = model.sample_z(batch_size, generator)
    with torch.inference_mode():
        w_plus = model.broadcast_w(model.truncate(model.map(z), 0.7))
    static, dynamic = model.make_noise(batch_size, generator=generator)
    return w_plus, static, dynamic


def interleaved_medians(runs: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median wall seconds of each run over ``rounds`` rounds, the runs taking turns within every round."""
    for run in runs.values():
        run()  # warm-up: oneDNN primitives, kernel caches, allocator
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def compare_with_reference(
    model: DeepLandscapeGenerator, batch_sizes: Sequence[int], rounds: int, bf16: bool
) -> tuple[dict[str, float], dict[str, float]]:
    """s/frame of ours (fp32, and bf16 autocast if ``bf16``) and of the reference per batch size; checks agreement.

    Returns (seconds per frame by run name, numbers about agreement: max |ours - reference|, bf16 PSNR).
    """
    runs: dict[str, Callable[[], object]] = {}
    checks: dict[str, float] = {}
    for batch in batch_sizes:
        inputs = synthesis_inputs(model, batch)
        with torch.inference_mode():
            ours = model.synthesize(*inputs)
            checks[f"max_abs_diff_b{batch}"] = (ours - reference_synthesize(model, *inputs)).abs().max().item()
            if bf16:
                with autocast(torch.bfloat16, "cpu"):
                    checks[f"bf16_psnr_db_b{batch}"] = frame_psnr(model.synthesize(*inputs), ours)

        def ours_fp32(inputs=inputs):
            with torch.inference_mode():
                model.synthesize(*inputs)

        def reference(inputs=inputs):
            with torch.no_grad():  # as the authors' generation code runs
                reference_synthesize(model, *inputs)

        runs[f"ours_b{batch}"] = ours_fp32
        runs[f"reference_b{batch}"] = reference
        if bf16:

            def ours_bf16(inputs=inputs):
                with torch.inference_mode(), autocast(torch.bfloat16, "cpu"):
                    model.synthesize(*inputs)

            runs[f"ours_bf16_b{batch}"] = ours_bf16
    medians = interleaved_medians(runs, rounds)
    per_frame = {name: seconds / int(name.rsplit("_b", 1)[1]) for name, seconds in medians.items()}
    return per_frame, checks


def seconds_per_frame(plan, num_frames: int, batch_size: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds summed over threads) per frame of a whole video render."""
    wall, cpu = time.perf_counter(), time.process_time()
    plan.render(np.arange(num_frames), batch_size=batch_size)
    return (time.perf_counter() - wall) / num_frames, (time.process_time() - cpu) / num_frames


# ----------------------------------------------------------------------------------------------- level table
def _run_block_variant(
    block: SynthesisBlock, transposed: bool | None, channels_last: bool, x: torch.Tensor | None, *inputs
) -> torch.Tensor:
    """One level in one variant; its input is first put in the variant's layout (the switch is not timed alone)."""
    if transposed is not None:
        block.conv1[0].transposed = transposed
    block.channels_last = channels_last
    layout = torch.channels_last if channels_last else torch.contiguous_format
    with torch.inference_mode():
        return block(None if x is None else x.contiguous(memory_format=layout), *inputs)


def level_table(model: DeepLandscapeGenerator, batch_sizes: Sequence[int], rounds: int) -> list[dict]:
    """Median ms per frame of every level in each variant, at each batch size."""
    rows = []
    for batch in batch_sizes:
        w_plus, static, dynamic = synthesis_inputs(model, batch)
        x = None
        for index, block in enumerate(model.blocks):
            side = 4 * 2**index
            inputs = (w_plus[:, 2 * index], w_plus[:, 2 * index + 1], (static[index], dynamic[index]))
            nearest = isinstance(block.conv1, torch.nn.Sequential) and isinstance(block.conv1[0], NearestUpsampleConv2d)
            variants = [(t, c) for t in ([True, False] if nearest else [None]) for c in (False, True)]
            runs = {v: functools.partial(_run_block_variant, block, *v, x, *inputs) for v in variants}
            for (transposed, channels_last), seconds in interleaved_medians(runs, rounds).items():
                rows.append(
                    {
                        "side": side,
                        "batch": batch,
                        "transposed_upsample": transposed,
                        "channels_last": channels_last,
                        "ms_per_frame": 1e3 * seconds / batch,
                    }
                )
            plan = level_plan(side)  # restore the shipped plan and feed the next level its real input
            x = _run_block_variant(block, plan.transposed_upsample if nearest else None, plan.channels_last, x, *inputs)
    return rows


def print_level_table(rows: list[dict], batch_sizes: Sequence[int]) -> dict[int, tuple]:
    """Print ms/frame per side and variant; return the best variant per side (lowest summed time relative to best)."""
    sides = sorted({row["side"] for row in rows})
    best = {}
    print("\nms per frame by level (median of interleaved rounds); variant = (transposed upsample, channels_last)")
    for side in sides:
        variants = sorted({(r["transposed_upsample"], r["channels_last"]) for r in rows if r["side"] == side}, key=str)
        cost = {}
        cells = []
        for variant in variants:
            times = [
                next(
                    r["ms_per_frame"]
                    for r in rows
                    if r["side"] == side
                    and r["batch"] == b
                    and (r["transposed_upsample"], r["channels_last"]) == variant
                )
                for b in batch_sizes
            ]
            cost[variant] = times
            cells.append(f"{variant}: " + " / ".join(f"b{b} {t:7.1f}" for b, t in zip(batch_sizes, times)))
        fastest = [min(times[i] for times in cost.values()) for i in range(len(batch_sizes))]
        best[side] = min(cost, key=lambda v: sum(t / f for t, f in zip(cost[v], fastest)))
        print(f"{side:4d} px  best {best[side]}  |  " + "  |  ".join(cells))
    return best


# ----------------------------------------------------------------------------------------------- main
def _judge(value: float, target: float) -> str:
    return "ok" if value <= target else "MISS"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100, help="frames of the whole-video render, in batches")
    parser.add_argument("--single-frames", type=int, default=8, help="frames of the whole-video render one at a time")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the reference comparison")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--motion", default="m01")
    parser.add_argument("--dtype", choices=DTYPE_CHOICES, default="auto", help="precision of the whole-video render")
    parser.add_argument(
        "--bf16", action="store_true", help="also time bf16 autocast against fp32 where it is emulated (slow)"
    )
    parser.add_argument("--level-table", action="store_true", help="time each level's variants and exit")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--no-allocator-tuning",
        action="store_true",
        help="measure with glibc's default malloc settings (deeplandscape generate tunes them, see tune_cpu_allocator)",
    )
    args = parser.parse_args(argv)
    allocator_tuned = False if args.no_allocator_tuning else tune_cpu_allocator()
    model = build_model(args.resolution)
    batch_sizes = sorted({1, args.batch_size})

    if args.level_table:
        rows = level_table(model, batch_sizes, args.rounds)
        best = print_level_table(rows, batch_sizes)
        results = {
            "level_table": rows,
            "best": {str(k): list(v) for k, v in best.items()},
            "environment": environment(),
        }
        if args.json:
            write_json(args.json, results)
        return results

    plan = plan_video(model, args.frames, seed=0, motion=args.motion)
    # 1. FLOPs of one frame, counted two independent ways.
    with FlopCounter(model) as counter:
        plan.render([0], batch_size=1)
    flops = counter.total
    # FlopCounterMode's module tracker needs autograd graphs: run one frame outside no_grad / inference mode.
    w_plus = plan.w_plus([0]).clone()
    dynamic = [level.clone() for level in plan.dynamic_noise_at([0])]
    torch_flops = torch_flop_count(lambda: model.synthesize(w_plus, plan.static_noise, dynamic))

    # 2. Probe, ours against the reference (and bf16) interleaved, probe again (shared machine: the better probe).
    probe_before, probe_cpu_before = matmul_rates()
    native_bf16 = bf16_is_native("cpu")
    per_frame, checks = compare_with_reference(model, batch_sizes, args.rounds, bf16=native_bf16 or args.bf16)
    probe_after, probe_cpu_after = matmul_rates()
    probe = max(probe_before, probe_after)
    floor = flops / (probe * 1e9)
    big = args.batch_size

    # 3. A whole video in the precision --dtype resolves to.
    with autocast(args.dtype, "cpu") as render_dtype:
        plan.render([0, 1], batch_size=2)
        batched, batched_cpu = seconds_per_frame(plan, args.frames, args.batch_size)
        single, single_cpu = seconds_per_frame(plan, args.single_frames, 1)
    start = time.perf_counter()
    for begin in range(0, args.frames, args.batch_size):
        plan.dynamic_noise_at(np.arange(begin, min(begin + args.batch_size, args.frames)))
    warp = (time.perf_counter() - start) / args.frames

    ratios = {b: per_frame[f"ours_b{b}"] / per_frame[f"reference_b{b}"] for b in batch_sizes}
    results = {
        "resolution": args.resolution,
        "frames": args.frames,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "synthesis_s_per_frame": per_frame,
        "ours_over_reference": {str(b): r for b, r in ratios.items()},
        "ours_over_reference_targets": {str(b): t for b, t in REFERENCE_RATIO_TARGETS.items()},
        "agreement": checks,
        "bf16_native": native_bf16,
        "render_dtype": str(render_dtype).removeprefix("torch."),
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
        "probe_gflops_per_cpu_s": max(probe_cpu_before, probe_cpu_after),
        "floor_s_per_frame": floor,
        "ratio_to_floor": per_frame[f"ours_b{big}"] / floor,
        "ratio_target": FLOOR_RATIO_TARGET,
        "noise_warp_s_per_frame": warp,
        "allocator_tuned": allocator_tuned,
        "peak_rss_gb": peak_rss_gb(),
        "peak_rss_target_gb": PEAK_RSS_TARGET_GB,
        "environment": environment(),
    }
    rows = []
    for b in batch_sizes:
        target = REFERENCE_RATIO_TARGETS.get(b)
        rows += [
            (
                f"synthesis b{b}: ours s/frame",
                f"{per_frame[f'ours_b{b}']:.3f}",
                f"fp32, median of {args.rounds} rounds",
            ),
            (f"synthesis b{b}: reference", f"{per_frame[f'reference_b{b}']:.3f}", "plain authors' arithmetic, NCHW"),
            (
                f"synthesis b{b}: ours / ref",
                f"{ratios[b]:.2f}",
                f"target <= {target} {_judge(ratios[b], target)}" if target else "",
            ),
        ]
        if f"ours_bf16_b{b}" in per_frame:
            speedup = per_frame[f"ours_b{b}"] / per_frame[f"ours_bf16_b{b}"]
            rows.append(
                (
                    f"synthesis b{b}: bf16 speed-up",
                    f"{speedup:.2f}",
                    f"fp32 / bf16 autocast; PSNR {checks[f'bf16_psnr_db_b{b}']:.1f} dB vs fp32 "
                    f"(targets >= {BF16_SPEEDUP_TARGET}x, >= {BF16_PSNR_TARGET_DB} dB)",
                )
            )
    ratio = results["ratio_to_floor"]
    rows += [
        (
            "max |ours - reference|",
            f"{max(v for k, v in checks.items() if k.startswith('max_abs')):.1e}",
            "same frames",
        ),
        ("GFLOPs/frame (ours)", f"{flops / 1e9:.2f}", "2 x MACs of conv / transposed conv / linear / blur"),
        ("GFLOPs/frame (torch)", f"{torch_flops / 1e9:.2f}", "torch.utils.flop_counter cross-check"),
        ("probe GFLOP/s", f"{probe:.1f}", f"2048^2 fp32 matmul, before {probe_before:.1f} / after {probe_after:.1f}"),
        ("floor s/frame", f"{floor:.3f}", "GFLOPs/frame / probe"),
        (f"b{big} / floor", f"{ratio:.2f}", f"target <= {FLOOR_RATIO_TARGET} {_judge(ratio, FLOOR_RATIO_TARGET)}"),
        ("bf16 native on this CPU", f"{native_bf16}", "AMX or AVX-512 BF16 with oneDNN bf16"),
        ("video render dtype", results["render_dtype"], f"--dtype {args.dtype}"),
        (
            "video s/frame batched",
            f"{batched:.3f}",
            f"{args.frames} frames, batch {args.batch_size}, motion {args.motion}",
        ),
        ("video s/frame single", f"{single:.3f}", f"{args.single_frames} frames, batch 1"),
        ("batched / single", f"{batched / single:.2f}", "target <= 1.0"),
        ("noise warp s/frame", f"{warp:.4f}", f"{warp / batched:.1%} of the batched time"),
        ("peak RSS GB", f"{results['peak_rss_gb']:.2f}", f"target < {PEAK_RSS_TARGET_GB} (100 frames)"),
        ("torch threads", f"{torch.get_num_threads()}", ""),
        ("allocator tuned", f"{allocator_tuned}", "glibc mmap off + high trim threshold, for ours and the reference"),
    ]
    print_table(rows, f"frame synthesis at {args.resolution} px: ours against the plain reference, same run")
    if counter.uncounted:
        print(f"warning: layers with weights not counted: {sorted(counter.uncounted)}")
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
