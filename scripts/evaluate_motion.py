"""How much the sky moves and the land stays put, per photo, for each motion source.

For every photo: invert once per preset, render the same animation with ``motion_source="hybrid"`` and
``"generator"`` (lossless PNG frames, so the numbers describe the animation and not a video codec), save the movable
mask the pipeline used, measure the seamless loop (the frame after the last against frame 0), then run
``deeplandscape evaluate animation`` on each folder of videos with those masks: mean motion in the sky/water and on
land in pixels per frame, their ratio, masked SSIM of the land. Land within ``--static-margin`` px of the moving
region is left out of the land's motion (Farneback's 15 px window reports the sky's motion on the land right beside
it). Inversions are cached in ``OUT/cache``, so a second run only renders.

    python scripts/evaluate_motion.py [PHOTOS...] [--presets fast balanced] [--frames 30] [--out runs/motion-eval]
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deeplandscape_hf import DeepLandscapePipeline
from deeplandscape_hf.animation.video import write_video
from deeplandscape_hf.cli import main as cli_main

SOURCES = ("hybrid", "generator")
ROOT = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="*", type=Path, help="photos (default: every photo in examples/)")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the bundled model)")
    parser.add_argument("--presets", nargs="+", default=["fast", "balanced"], choices=["fast", "balanced", "paper"])
    parser.add_argument("--frames", type=int, default=30, help="frames per video")
    parser.add_argument("--motion", default="man1", help="motion preset (speed 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "motion-eval")
    parser.add_argument("--static-margin", type=float, default=8.0, help="px of land beside the sky left out")
    return parser.parse_args()


def loop_closure(pipe: DeepLandscapePipeline, inverted, motion: str, frames: int) -> float:
    """Mean absolute difference, in 8-bit levels, between the frame after the last of a loop and frame 0."""
    out = pipe.animate(
        inverted, motion=motion, num_frames=frames, loop=True, frame_indices=[0, frames], output_type="np"
    )
    first, after_last = (np.round(out.frames * 255)).astype(np.float64)
    return float(np.abs(after_last - first).mean())


def field_motion(pipe: DeepLandscapePipeline, inverted, motion: str) -> float:
    """Mean length, in output pixels, of one frame's step of the hybrid flow field over the movable region: the
    motion the video carries, including where an even sky gives a flow estimator nothing to follow."""
    from deeplandscape_hf.animation.compositing import Compositor
    from deeplandscape_hf.motion import frame_recipe, get_motion

    compositor = Compositor(
        inverted.photo, inverted.box, inverted.dynamic_mask, pipe.config.feather_px, pipe.config.max_output_side
    )
    homographies = get_motion(motion).homographies(inverted.horizon)
    hybrid = compositor.hybrid_motion(
        homographies, inverted.horizon, frame_recipe(np.arange(2.0), 2)[0], inverted.dynamic_mask_crop
    )
    if hybrid.flow is None:
        return 0.0
    step = hybrid.flow.displacement(1).norm(dim=-1)  # (band rows, W)
    moving = compositor.movable_alpha[0, compositor.moving_rows] > 0
    return float(step[moving].mean())


def main() -> None:
    args = parse_args()
    photos = args.photos or sorted((ROOT / "examples").glob("*.jpg"))
    pipe = DeepLandscapePipeline.from_pretrained(args.model, cache_dir=args.out / "cache")
    pipe.set_progress_bar_config(disable=True)
    masks = args.out / "masks"
    masks.mkdir(parents=True, exist_ok=True)
    loops: dict[str, dict[str, float]] = {}
    fields: dict[str, float] = {}
    for preset in args.presets:
        for photo in photos:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                inverted = pipe.invert(str(photo), preset=preset, generator=torch.Generator().manual_seed(0))
            for source in SOURCES:
                out = pipe.animate(inverted, motion=args.motion, num_frames=args.frames, motion_source=source)
                write_video(out.frames, args.out / f"{preset}-{source}" / photo.stem, fps=out.fps)
                if source == "hybrid":  # the movable region: what the hybrid source may move
                    moving = (np.asarray(out.mask) > 0).astype(np.uint8) * 255
                    Image.fromarray(moving).save(masks / f"{photo.stem}.png")
            loops.setdefault(preset, {})[photo.stem] = loop_closure(pipe, inverted, args.motion, args.frames)
            fields[photo.stem] = field_motion(pipe, inverted, args.motion)
            print(
                f"{preset} {photo.stem}: loop closure {loops[preset][photo.stem]:.4f} levels, flow field "
                f"{fields[photo.stem]:.3f} px/frame over the movable region",
                flush=True,
            )
    (args.out / "loop_closure.json").write_text(json.dumps(loops, indent=2) + "\n")
    (args.out / "field_motion_px.json").write_text(json.dumps(fields, indent=2) + "\n")
    for preset in args.presets:
        for source in SOURCES:
            folder = args.out / f"{preset}-{source}"
            print(f"\n## {preset}, motion_source={source}\n", flush=True)
            cli_main(
                ["evaluate", "animation", str(folder), "--inputs", *map(str, photos), "--masks", str(masks)]
                + ["--static-margin", str(args.static_margin), "--no-lpips"]
                + ["--csv", str(folder.with_suffix(".csv")), "--json", str(folder.with_suffix(".json"))]
            )


if __name__ == "__main__":
    main()
