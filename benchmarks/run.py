"""Run every available benchmark, print ONE table against the project's speed targets, and optionally write JSON.

    python benchmarks/run.py                      # everything, full size (tens of minutes on the 2-core CPU)
    python benchmarks/run.py --quick              # smaller runs of the same code paths (a few minutes)
    python benchmarks/run.py --only generate animate --json .benchmarks/all.json

Each ``benchmarks/bench_<name>.py`` runs in its own worker process (``run.py --worker``): its peak RSS is then its
own, a crash or a leaked global state (Accelerate) cannot spoil the next one, and a missing optional dependency skips
that module only. Known modules (generate, animate, training) have adapters that pick their arguments and read their
JSON into table rows; any other ``bench_*.py`` is run with ``--json`` when it takes that option, and its numeric
results are listed as they are. A module that is not there is skipped with a note.

The machine is shared and its speed swings 2-3x with load, so the device section records the CPU,
threads, load average and a matmul probe taken by the runner, and the targets are judged on ratios measured inside
each module's own run (time / FLOP floor), not on wall-clock alone.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
TAIL_CHARS = 4000  # how much of a failed module's output is kept in the report


# ------------------------------------------------------------------------------------------------------ rows


@dataclass
class Row:
    """One line of the table: a number, the target it is judged against (if any) and whether it met it."""

    benchmark: str
    metric: str
    value: float | str | None
    unit: str = ""
    target: str = ""
    status: str = ""  # "ok", "MISS", "n/a" (target not applicable to this run), "" (no target)
    note: str = ""

    def cells(self) -> list[str]:
        if isinstance(self.value, float):
            value = f"{self.value:.3g}" if abs(self.value) < 1000 else f"{self.value:.0f}"
        else:
            value = "n/a" if self.value is None else str(self.value)
        return [self.benchmark, self.metric, f"{value} {self.unit}".strip(), self.target, self.status, self.note]


def judge(value: float | None, limit: float, *, below: bool = True, applies: bool = True) -> str:
    """ "ok" / "MISS" for ``value <= limit`` (``below``) or ``>= limit``; "n/a" when the target does not apply."""
    if not applies or value is None or not math.isfinite(value):
        return "n/a"
    return "ok" if (value <= limit if below else value >= limit) else "MISS"


def format_table(rows: list[Row]) -> str:
    """A GitHub-markdown table that also reads well in a terminal (columns padded)."""
    header = ["benchmark", "metric", "value", "target", "status", "note"]
    cells = [header, *[row.cells() for row in rows]]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |" for line in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------ adapters


@dataclass
class Adapter:
    """How to run one bench module and read its results.

    ``arguments(quick, threads, json_path)`` gives the module's command-line arguments (the module writes its JSON to
    ``json_path``); ``rows(results, quick)`` turns that JSON (or the dict ``main`` returned) into table rows.
    """

    name: str
    arguments: Callable[[bool, int | None, Path], list[str]]
    rows: Callable[[dict[str, Any], bool], list[Row]]
    description: str = ""
    notes: list[str] = field(default_factory=list)


# Layers that hold weights but do no multiply-accumulate work worth counting (a learned constant, per-channel noise
# scales): bench_generate lists them as "uncounted", which is right for them and must not read as a missed target.
ELEMENTWISE_LAYERS = {"ConstantInput", "NoiseInjection"}


def _generate_arguments(quick: bool, threads: int | None, json_path: Path) -> list[str]:
    sizes = ["--frames", "16", "--single-frames", "2"] if quick else []
    return [*sizes, "--json", str(json_path)]


def _generate_rows(results: dict[str, Any], quick: bool) -> list[Row]:
    name = "generate"
    frames, resolution = results.get("frames"), results.get("resolution")
    batched, single = results.get("s_per_frame_batched"), results.get("s_per_frame_single")
    gflops = results.get("gflops_per_frame")
    probe = max(results.get("probe_gflops_before") or 0.0, results.get("probe_gflops_after") or 0.0) or None
    ratio = results.get("ratio_to_floor")
    achieved = gflops / batched if gflops and batched else None
    full_size = (frames or 0) >= 100 and resolution == 256
    rows = [
        Row(
            name,
            f"s/frame, batches of {results.get('batch_size')}",
            batched,
            "s",
            note=f"{frames} frames, {resolution} px",
        ),
        Row(name, "s/frame, one at a time", single, "s"),
        Row(
            name,
            "batched / single",
            results.get("batched_over_single"),
            "",
            "<= 1.0",
            judge(results.get("batched_over_single"), 1.0),
        ),
        Row(name, "GFLOPs per frame", gflops, "GFLOP", note="our counter (2 x MACs); official 256 px G: 45.7"),
        Row(
            name,
            "achieved GFLOP/s",
            achieved,
            "GFLOP/s",
            note=f"{achieved / probe:.0%} of the matmul probe ({probe:.0f} GFLOP/s)" if achieved and probe else "",
        ),
        Row(name, "synthesis b8 / FLOP floor", ratio, "x", "<= 1.3", judge(ratio, 1.3)),
        *(
            Row(name, f"ours / reference, batch {b}", value, "x", f"<= {target}", judge(value, target))
            for b, target in (("1", 0.8), (str(results.get("batch_size")), 0.7))
            if (value := (results.get("ours_over_reference") or {}).get(b)) is not None
        ),
        Row(
            name,
            "peak RSS",
            results.get("peak_rss_gb"),
            "GB",
            "< 3 (100 frames, 256 px)",
            judge(results.get("peak_rss_gb"), 3.0, applies=full_size),
            "" if full_size else "quick run: fewer frames than the target's 100",
        ),
    ]
    uncounted = [layer for layer in results.get("uncounted_layer_types", []) if layer not in ELEMENTWISE_LAYERS]
    if uncounted:
        rows.append(
            Row(
                name,
                "uncounted layers",
                ", ".join(uncounted),
                status="MISS",
                note="layers with weights the FLOP counter does not know: the floor is too low",
            )
        )
    return rows


def _animate_arguments(quick: bool, threads: int | None, json_path: Path) -> list[str]:
    arguments = ["--out", str(json_path)]
    if quick:
        arguments += ["--presets", "fast", "--frames", "12", "--max-iterations", "10"]
    if threads:
        arguments += ["--threads", str(threads)]
    return arguments


ANIMATE_TARGETS_S = {"fast": 30.0, "balanced": 120.0}  # bundled model, 512 px photo, 60 frames
ANIMATE_STAGES = ("segmentation", "encode", "optimization", "fine_tune", "render", "composite")


def _animate_rows(results: dict[str, Any], quick: bool) -> list[Row]:
    name = "animate"
    model = results.get("model", {})
    random_weights = bool(model.get("random_weights"))
    frames = results.get("frames")
    applies = not quick and not random_weights and frames == 60
    why = []
    if random_weights:
        why.append(f"random-weights {model.get('resolution')} px stand-in model")
    if quick:
        why.append("quick run (capped iterations, fewer frames)")
    caveat = "; ".join(why)
    rows = []
    for preset, entry in results.get("presets", {}).items():
        target = ANIMATE_TARGETS_S.get(preset)
        rows.append(
            Row(
                name,
                f"{preset}: photo -> {frames} frames",
                entry.get("total_s"),
                "s",
                f"<= {target:g} s" if target else "",
                judge(entry.get("total_s"), target, applies=applies) if target else "",
                caveat,
            )
        )
        stages = entry.get("stages_s", {})
        parts = [f"{stage} {stages[stage]:.1f}" for stage in ANIMATE_STAGES if stage in stages]
        rows.append(Row(name, f"{preset}: stages", ", ".join(parts), "s"))
        rows.append(Row(name, f"{preset}: render", entry.get("render_s_per_frame"), "s/frame"))
        rows.append(
            Row(
                name,
                f"{preset}: re-animate (cached inversion)",
                entry.get("reanimate_total_s"),
                "s",
                note=f"cache hit: {entry.get('reanimate_cache_hit')}, style {entry.get('reanimate_style')}",
            )
        )
    return rows  # results["notes"] (fallbacks the module took) are printed under the table by main()


def _training_arguments(quick: bool, threads: int | None, json_path: Path) -> list[str]:
    arguments = ["--json", str(json_path)]
    if quick:
        arguments += ["--iterations-tiny", "8", "--iterations-64", "4"]
    if threads:
        arguments += ["--threads", str(threads)]
    return arguments


def _training_rows(results: dict[str, Any], quick: bool) -> list[Row]:
    probe = results.get("probe_gflops_fp32", {})
    rows = []
    for config, run in results.get("runs", {}).items():
        rows.append(
            Row(
                "training",
                f"{config}",
                run.get("images_per_s"),
                "img/s",
                note=f"{run.get('iterations')} iterations, {results.get('threads')} thread(s), "
                f"probe {probe.get('before')}/{probe.get('after')} GFLOP/s",
            )
        )
    return rows


def _segmentation_arguments(quick: bool, threads: int | None, json_path: Path) -> list[str]:
    return ["--json", str(json_path), "--repeats", "1" if quick else "5"]


def _segmentation_rows(results: dict[str, Any], quick: bool) -> list[Row]:
    width, height = results.get("size", (0, 0))
    load = results.get("load_average")
    rows = []
    for method, target in (("region", results.get("target_s")), ("colour", None)):
        entry = results.get(method, {})
        rows.append(
            Row(
                "segmentation",
                f"{method}: {width}x{height} photo",
                entry.get("cpu_s"),
                "s CPU",
                f"<= {target:g} s" if target else "",
                judge(entry.get("cpu_s"), target) if target else "",
                f"wall {entry.get('wall_s', float('nan')):.3f} s at load {load[0]:.1f}" if load else "",
            )
        )
    return rows


def _photos_arguments(quick: bool, threads: int | None, json_path: Path) -> list[str]:
    arguments = ["--json", str(json_path)] + (["--frames", "12"] if quick else [])
    return arguments + (["--threads", str(threads)] if threads else [])


def _photos_rows(results: dict[str, Any], quick: bool) -> list[Row]:
    name = "photos"
    summary = results.get("summary", {})
    applies = bool(summary.get("targets_apply")) and not quick  # fast preset, 60 frames (frames are held in memory)
    note = "" if applies else "targets are for the fast preset and 60 frames"
    added, jpeg_rss = summary.get("added_cpu_s_200mp_jpeg"), summary.get("peak_rss_gb_200mp_jpeg")
    png_rss = summary.get("peak_rss_gb_50mp_png")
    wall = (
        f"wall: {summary.get('added_wall_s_200mp_jpeg', 0):+.0f} s over {summary.get('baseline_12mp_wall_s', 0):.0f} s"
    )
    return [
        Row(name, "12 MP JPEG -> mp4", summary.get("baseline_12mp_cpu_s"), "CPU s", note="mean of a run before, after"),
        Row(name, "200 MP JPEG adds", added, "CPU s", "<= 10 s", judge(added, 10.0, applies=applies), note or wall),
        Row(
            name,
            "200 MP JPEG adds, decoding alone",
            summary.get("added_decode_cpu_s_200mp_jpeg"),
            "CPU s",
            note="the part that depends on the file; the rest of a run differs by load only",
        ),
        Row(name, "200 MP JPEG peak RSS", jpeg_rss, "GB", "<= 3 GB", judge(jpeg_rss, 3.0, applies=applies), note),
        Row(name, "50 MP PNG adds", summary.get("added_cpu_s_50mp_png"), "CPU s", note="decoded in full, then reduced"),
        Row(name, "50 MP PNG peak RSS", png_rss, "GB", "<= 4 GB", judge(png_rss, 4.0, applies=applies), note),
    ]


ADAPTERS: dict[str, Adapter] = {
    "generate": Adapter("generate", _generate_arguments, _generate_rows, "synthetic frames: s/frame vs FLOP floor"),
    "animate": Adapter("animate", _animate_arguments, _animate_rows, "photo animation per preset and stage"),
    "training": Adapter("training", _training_arguments, _training_rows, "GAN training images/s"),
    "segmentation": Adapter(
        "segmentation", _segmentation_arguments, _segmentation_rows, "offline sky/water segmentation s/photo"
    ),
    "photos": Adapter("photos", _photos_arguments, _photos_rows, "200 MP JPEG, 50 MP PNG vs 12 MP"),
}


def _generic_rows(name: str, results: dict[str, Any], prefix: str = "") -> list[Row]:
    """Numbers of an unknown module's JSON, flattened (``a.b.c``), without targets."""
    rows = []
    for key, value in results.items():
        label = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_generic_rows(name, value, f"{label}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append(Row(name, label, float(value)))
    return rows


def _generic_adapter(name: str, source: str) -> Adapter | None:
    """An adapter for a ``bench_*.py`` the runner does not know, when it writes JSON with ``--json``."""
    if '"--json"' not in source:
        return None
    return Adapter(
        name,
        lambda quick, threads, path: ["--json", str(path)],
        lambda results, quick: _generic_rows(name, results),
        "discovered module (numbers listed as written, no targets)",
    )


def discover(only: list[str] | None) -> tuple[list[Adapter], list[str]]:
    """The adapters to run, in a fixed order (known ones first), and notes about modules that are missing or skipped."""
    notes = []
    found = {path.stem.removeprefix("bench_"): path for path in sorted(BENCH_DIR.glob("bench_*.py"))}
    names = list(ADAPTERS) + [name for name in found if name not in ADAPTERS]
    if only:
        unknown = [name for name in only if name not in names]
        if unknown:
            notes.append(f"--only names unknown benchmarks: {', '.join(unknown)} (available: {', '.join(names)})")
        names = [name for name in names if name in only]
    adapters = []
    for name in names:
        if name not in found:
            notes.append(f"benchmarks/bench_{name}.py is not there yet: {name} skipped")
            continue
        adapter = ADAPTERS.get(name) or _generic_adapter(name, found[name].read_text(encoding="utf-8"))
        if adapter is None:
            notes.append(f"benchmarks/bench_{name}.py takes no --json option: skipped (the runner cannot read it)")
            continue
        adapters.append(adapter)
    return adapters, notes


# ------------------------------------------------------------------------------------------------------ device


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The SIMD features the numbers depend on (AVX-512 BF16 decides whether the bf16 path can pay off)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return [flag for flag in wanted if flag in flags]


def device_info(threads: int | None, probe: bool) -> dict[str, Any]:
    """CPU model, cores, torch threads and version, GPU, load average and (optionally) the matmul probe."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }
    if probe:
        sys.path.insert(0, str(BENCH_DIR))
        try:
            from _common import matmul_gflops

            info["probe_gflops_fp32"] = round(matmul_gflops(), 1)
        except ImportError as error:
            info["probe_gflops_fp32"] = None
            info["probe_note"] = f"benchmarks/_common.py unavailable ({error})"
    return info


def describe_device(info: dict[str, Any]) -> str:
    parts = [
        info["cpu"],
        f"{info['usable_cpus']} usable of {info['logical_cpus']} logical CPUs",
        f"torch {info['torch']} with {info['torch_threads']} thread(s)",
    ]
    if info.get("cpu_flags"):
        parts.append("+".join(info["cpu_flags"]))
    if info.get("cuda"):
        parts.append(f"GPU {info['cuda']}")
    if info.get("load_average"):
        parts.append(f"load {'/'.join(str(x) for x in info['load_average'])}")
    if info.get("probe_gflops_fp32"):
        parts.append(f"matmul probe {info['probe_gflops_fp32']} GFLOP/s fp32")
    return "; ".join(parts)


# ------------------------------------------------------------------------------------------------------ running


def worker(module_name: str, out_path: Path, threads: int | None, arguments: list[str]) -> int:
    """Inside the worker process: import ``bench_<name>``, call its ``main``, record what it returned and peak RSS."""
    sys.path[:0] = [str(BENCH_DIR), str(REPO)]
    os.chdir(REPO)
    if threads:
        import torch

        torch.set_num_threads(threads)
    started = time.perf_counter()
    module = __import__(f"bench_{module_name}")
    main = module.main
    sys.argv = [str(BENCH_DIR / f"bench_{module_name}.py"), *arguments]
    returned = main(arguments) if inspect.signature(main).parameters else main()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024**3 if sys.platform == "darwin" else 1024**2)
    record = {
        "returned": returned if isinstance(returned, dict) else None,
        "wall_s": time.perf_counter() - started,
        "peak_rss_gb": peak,
    }
    out_path.write_text(json.dumps(record, default=str))
    return 0 if returned in (None, 0) or isinstance(returned, dict) else int(returned)


@dataclass
class Outcome:
    """What one module's run produced."""

    name: str
    status: str  # "ok", "failed", "timeout"
    results: dict[str, Any] = field(default_factory=dict)
    wall_s: float | None = None
    peak_rss_gb: float | None = None
    error: str = ""
    log_tail: str = ""


def run_module(adapter: Adapter, quick: bool, threads: int | None, timeout: float, verbose: bool) -> Outcome:
    """Run one module in a worker process; its own JSON (or ``main``'s return value) becomes ``results``."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{adapter.name}-") as folder:
        module_json, worker_json = Path(folder) / "module.json", Path(folder) / "worker.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            adapter.name,
            "--worker-out",
            str(worker_json),
        ]
        if threads:
            command += ["--threads", str(threads)]
        command += ["--", *adapter.arguments(quick, threads, module_json)]
        started = time.perf_counter()
        try:
            completed = subprocess.run(
                command,
                cwd=REPO,
                capture_output=not verbose,
                text=True,
                timeout=timeout,
                env={**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")},
            )
        except subprocess.TimeoutExpired as error:
            tail = (error.stdout or "") if isinstance(error.stdout, str) else ""
            return Outcome(
                adapter.name, "timeout", error=f"no result within {timeout:g} s", log_tail=tail[-TAIL_CHARS:]
            )
        wall = time.perf_counter() - started
        log = (completed.stdout or "") + (completed.stderr or "")
        record = json.loads(worker_json.read_text()) if worker_json.is_file() else {}
        results = json.loads(module_json.read_text()) if module_json.is_file() else record.get("returned") or {}
        if completed.returncode != 0 or not results:
            last = [line for line in log.strip().splitlines() if line.strip()]
            reason = last[-1] if last else f"exit status {completed.returncode}"
            return Outcome(adapter.name, "failed", wall_s=wall, error=reason, log_tail=log[-TAIL_CHARS:])
        return Outcome(
            adapter.name,
            "ok",
            results=results,
            wall_s=record.get("wall_s", wall),
            peak_rss_gb=record.get("peak_rss_gb"),
            log_tail=log[-TAIL_CHARS:],
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller runs of the same code paths (minutes)")
    parser.add_argument("--only", nargs="+", default=None, help="benchmark names to run (generate animate training)")
    parser.add_argument("--json", type=Path, default=None, help="write the device, rows and raw results here")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for every module (default: torch's)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per module")
    parser.add_argument("--no-probe", action="store_true", help="skip the runner's own matmul probe")
    parser.add_argument("--verbose", action="store_true", help="show each module's own output as it runs")
    parser.add_argument("--list", action="store_true", help="list the benchmarks that would run, then stop")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("arguments", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        return worker(args.worker, args.worker_out, args.threads, args.arguments)

    adapters, notes = discover(args.only)
    if args.list:
        for adapter in adapters:
            print(f"{adapter.name:<10} {adapter.description}")
        for note in notes:
            print(f"note: {note}")
        return 0
    device = device_info(args.threads, probe=not args.no_probe)
    print(f"device: {describe_device(device)}", flush=True)
    rows: list[Row] = []
    outcomes: dict[str, Outcome] = {}
    for adapter in adapters:
        print(f"running {adapter.name}{' (quick)' if args.quick else ''} ...", flush=True)
        outcome = run_module(adapter, args.quick, args.threads, args.timeout, args.verbose)
        outcomes[adapter.name] = outcome
        if outcome.status != "ok":
            rows.append(Row(adapter.name, "status", outcome.status.upper(), status="MISS", note=outcome.error))
            continue
        try:
            rows.extend(adapter.rows(outcome.results, args.quick))
        except (KeyError, TypeError, ValueError) as error:  # the module's JSON changed shape: show it, do not crash
            rows.append(
                Row(adapter.name, "status", "UNREADABLE", status="MISS", note=f"{type(error).__name__}: {error}")
            )
        rows.append(
            Row(
                adapter.name,
                "module wall time / peak RSS",
                f"{outcome.wall_s:.1f} s / {outcome.peak_rss_gb:.2f} GB",
                note="the module's own process",
            )
        )

    print()
    print(format_table(rows) if rows else "no benchmark ran")
    for note in notes:
        print(f"note: {note}")
    for name, outcome in outcomes.items():
        for note in outcome.results.get("notes", []) if isinstance(outcome.results.get("notes"), list) else []:
            print(f"note ({name}): {note}")
    misses = [row for row in rows if row.status == "MISS"]
    print(
        f"\n{len(misses)} target(s) missed"
        + (": " + "; ".join(f"{r.benchmark} {r.metric}" for r in misses) if misses else "")
    )
    if args.json:
        report = {
            "device": device,
            "quick": args.quick,
            "rows": [row.__dict__ for row in rows],
            "notes": notes,
            "modules": {name: outcome.__dict__ for name, outcome in outcomes.items()},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    failed = [o for o in outcomes.values() if o.status != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
