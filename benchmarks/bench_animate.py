"""Per-preset, per-stage timings of ``DeepLandscapePipeline`` animating a 512 px photo into 60 frames; writes JSON.

Targets (bundled model, a 2-core CPU): ``fast`` <= 30 s, ``balanced`` <= 120 s for a 512 px photo
and 60 frames. Shared machines swing 2-3x with load, so a matmul probe's GFLOP/s is measured in the same run and
stored beside the timings: compare runs by ``seconds * probe_gflops``, not by seconds.

    python benchmarks/bench_animate.py                       # bundled model, presets fast + balanced
    python benchmarks/bench_animate.py --model org/model --presets fast balanced paper --out bench.json

Without the bundled model the script falls back to a RANDOM-WEIGHTS 128 px model of the same layout (stated in the
output and the JSON): the timings are then only indicative of the machinery, not of the shipped model. When the
VGG19 weights or the segmentation model are not available offline, the run falls back to ``perceptual="none"`` /
``segmentation="heuristic"`` and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deeplandscape_hf.animation.pipeline import DeepLandscapePipeline, PipelineConfig  # noqa: E402
from deeplandscape_hf.animation.video import write_video  # noqa: E402
from deeplandscape_hf.networks.dynamics import DynamicsConfig, StyleDynamicsNet  # noqa: E402
from deeplandscape_hf.networks.encoder import DeepLandscapeEncoder, EncoderConfig  # noqa: E402
from deeplandscape_hf.networks.generator import DeepLandscapeGenerator, GeneratorConfig  # noqa: E402
from deeplandscape_hf.networks.hub import ModelNotFoundError  # noqa: E402

PHOTO_FOLDERS = (REPO / "examples", REPO.parent / "shared" / "data" / "landscapes")
FALLBACK_RESOLUTION = 128
FALLBACK_CHANNELS = [256, 256, 256, 256, 128, 64]  # 4 .. 128 px
PROBE_SIZE = 2048


def probe_gflops(repeats: int = 5) -> float:
    """fp32 matmul throughput of this machine right now (best of ``repeats``), in GFLOP/s."""
    a, b = torch.randn(PROBE_SIZE, PROBE_SIZE), torch.randn(PROBE_SIZE, PROBE_SIZE)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * PROBE_SIZE**3 / best / 1e9


def random_model() -> DeepLandscapePipeline:
    """A random-weights 128 px model with encoder and network A, so every stage runs (timings only!)."""
    generator = DeepLandscapeGenerator(
        GeneratorConfig(resolution=FALLBACK_RESOLUTION, channels=FALLBACK_CHANNELS, z_dim=512, w_dim=512)
    )
    generator.compute_w_avg(num_samples=4096)
    encoder = DeepLandscapeEncoder(
        EncoderConfig(backbone="resnet18", num_levels=generator.num_levels, pretrained_backbone=False, image_size=128)
    )
    encoder.set_output_bias(generator.w_avg)
    dynamics = StyleDynamicsNet(DynamicsConfig())
    return DeepLandscapePipeline(generator, encoder, dynamics, PipelineConfig(), model_id="random-128px")


def find_photo(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    for folder in PHOTO_FOLDERS:
        photos = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
        if photos:
            return photos[0]
    raise SystemExit("No photo found: pass --photo (a 512 px landscape photo).")


def usable_perceptual(pipe: DeepLandscapePipeline, wanted: str, notes: list[str]) -> str:
    if wanted == "none":
        return wanted
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, kind = pipe._perceptual_loss(wanted)  # "auto" resolves to what is available
        if kind != wanted:
            notes.append(f"perceptual={wanted!r} resolved to {kind!r} (VGG19 weights not in the torch cache)")
        return kind
    except Exception as error:  # noqa: BLE001 - any failure to build it means: measure without it, and say so
        notes.append(f"perceptual={wanted!r} unavailable ({type(error).__name__}); measured with perceptual='none'")
        return "none"


def usable_segmentation(pipe: DeepLandscapePipeline, photo: Path, wanted: str, notes: list[str]) -> str:
    if wanted != "auto":
        return wanted
    try:
        from PIL import Image

        pipe._segment(Image.open(photo).convert("RGB"), "auto")
        return wanted
    except Exception as error:  # noqa: BLE001
        notes.append(f"segmentation='auto' unavailable ({type(error).__name__}); measured with 'heuristic'")
        return "heuristic"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the bundled model)")
    parser.add_argument("--photo", type=Path, default=None, help="photo (default: first of examples/ or shared/)")
    parser.add_argument("--presets", nargs="+", default=["fast", "balanced"], help="presets to time")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--mode", default="eoifs")
    parser.add_argument("--perceptual", default="auto", choices=("auto", "vgg", "lpips", "none"))
    parser.add_argument("--segmentation", default="auto", choices=("auto", "heuristic", "none"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--max-iterations", type=int, default=None, help="cap every preset's iterations (smoke runs)")
    parser.add_argument("--out", type=Path, default=REPO / ".benchmarks" / "bench_animate.json")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    notes: list[str] = []
    try:
        pipe = DeepLandscapePipeline.from_pretrained(args.model, device=args.device)
        random_weights = False
    except ModelNotFoundError as error:
        if args.model is not None:
            raise
        notes.append(f"bundled model missing ({error}); using a RANDOM-WEIGHTS {FALLBACK_RESOLUTION} px model")
        print(f"NOTE: {notes[-1]}", file=sys.stderr)
        pipe = random_model().to(args.device)
        random_weights = True
    mode = args.mode
    if pipe.encoder is None and mode not in ("mo", "i2s"):
        notes.append(f"model has no encoder; mode {mode!r} replaced by 'mo'")
        mode = "mo"
    photo = find_photo(args.photo)
    perceptual = usable_perceptual(pipe, args.perceptual, notes)
    segmentation = usable_segmentation(pipe, photo, args.segmentation, notes)
    offered = pipe.config.style_vocabulary().reachable if pipe.dynamics is not None else ()
    style = "warm_sunset" if "warm_sunset" in offered else (offered[0] if offered else None)  # what the model offers
    for note in notes:
        print(f"NOTE: {note}", file=sys.stderr)

    report = {
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": args.device,
            "probe_gflops_before": round(probe_gflops(), 1),
        },
        "model": {
            "source": args.model or ("bundled" if not random_weights else "random-128px"),
            "random_weights": random_weights,
            "resolution": pipe.generator.resolution,
            "encoder": pipe.encoder is not None,
            "dynamics": pipe.dynamics is not None,
        },
        "photo": str(photo),
        "frames": args.frames,
        "mode": mode,
        "perceptual": perceptual,
        "segmentation": segmentation,
        "notes": notes,
        "presets": {},
    }
    for preset in args.presets:
        if args.max_iterations is not None:
            base = pipe.config.preset(preset)
            cap = args.max_iterations
            pipe.config.presets[preset] = {
                **pipe.config.presets.get(preset, {}),
                "optimization_iterations": min(base.optimization_iterations, cap),
                "fine_tune_iterations": min(base.fine_tune_iterations, cap),
                "i2s_iterations": min(base.i2s_iterations, cap),
            }
        pipe.clear_cache()
        common = dict(
            mode=mode,
            preset=preset,
            num_frames=args.frames,
            perceptual=perceptual,
            segmentation=segmentation,
            generator=torch.Generator().manual_seed(0),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            first = pipe(str(photo), **common)
            with tempfile.TemporaryDirectory() as folder:  # the last stage a user waits for: the H.264 file
                video_start = time.perf_counter()
                write_video(first.frames, Path(folder) / "video.mp4", fps=first.fps)
                first.timings["video"] = time.perf_counter() - video_start
            first_s = time.perf_counter() - start
            start = time.perf_counter()
            again = pipe(str(photo), style=style, motion="man2", **common)
            again_s = time.perf_counter() - start
        entry = {
            "settings": pipe.config.preset(preset).__dict__,
            "total_s": round(first_s, 3),
            "stages_s": {k: round(v, 3) for k, v in first.timings.items()},
            "losses": {k: round(v, 5) for k, v in first.losses.items()},
            "output_size": list(first.frames[0].size),
            "render_s_per_frame": round(first.timings["render"] / args.frames, 4),
            "reanimate_total_s": round(again_s, 3),
            "reanimate_cache_hit": again.cache_hit,
            "reanimate_style": style,
        }
        report["presets"][preset] = entry
        stages = ("segmentation", "encode", "optimization", "fine_tune", "render", "composite", "video")
        slowest = max(stages, key=lambda stage: first.timings.get(stage, 0.0))
        print(
            f"{preset:>9}: {first_s:7.1f} s total  (segment {first.timings.get('segmentation', 0):.1f}, encode "
            f"{first.timings.get('encode', 0):.1f}, optimise {first.timings.get('optimization', 0):.1f}, fine-tune "
            f"{first.timings.get('fine_tune', 0):.1f}, render {first.timings['render']:.1f}, composite "
            f"{first.timings['composite']:.1f}, video {first.timings['video']:.1f}); slowest stage: {slowest}; "
            f"re-animate with a style {again_s:.1f} s (cache hit: "
            f"{again.cache_hit})"
        )
    report["machine"]["probe_gflops_after"] = round(probe_gflops(), 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.out.with_name(f".{args.out.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(report, indent=2, default=str) + "\n")
    os.replace(temporary, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
