"""The app's "Preview styles": seconds to render a photo in every style from its cached inversion.

    python benchmarks/bench_style_previews.py [--model MODEL] [--photo examples/mountains_clouds_01.jpg]
        [--vocabulary {model,authors}] [--targets {photo,model}] [--threads 2]

Target (this 2-core CPU): the eight named styles in <= 10 s once the photo is inverted. By default the styles the
model offers, each fitted to the photo as the app does (``PipelineConfig.fit_styles_to_photo``); ``--vocabulary
authors`` times all eight with the authors' targets, used as given.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from deeplandscape_hf import DeepLandscapePipeline
from deeplandscape_hf.animation.images import load_image
from deeplandscape_hf.motion.styles import style_stills

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the bundled model)")
    parser.add_argument("--photo", type=Path, default=REPO / "examples" / "mountains_clouds_01.jpg")
    parser.add_argument("--vocabulary", choices=("model", "authors"), default="model")
    parser.add_argument(
        "--targets",
        choices=("photo", "model"),
        default="photo",
        help="photo: each style searched on from the model's target on the photo, as the app does; model: as they are",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = DeepLandscapePipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    if args.vocabulary == "authors":
        pipe.config.styles = None  # no vocabulary in PipelineConfig means the authors'
    pipe.config.fit_styles_to_photo = args.targets == "photo"
    styles = list(pipe.config.style_vocabulary().reachable)
    started = time.perf_counter()
    inverted = pipe.invert(load_image(args.photo), preset="fast", generator=torch.Generator().manual_seed(0))
    inversion = time.perf_counter() - started
    started = time.perf_counter()
    stills = style_stills(pipe, inverted, styles)
    seconds = time.perf_counter() - started
    size = stills[0].size if stills else (0, 0)
    verdict = "meets" if seconds <= TARGET_SECONDS else "misses"
    print(
        f"{len(stills)} stills ({size[0]}x{size[1]}) in {seconds:.1f} s after a {inversion:.1f} s inversion "
        f"({seconds / max(len(stills), 1):.2f} s each); {verdict} the {TARGET_SECONDS:g} s target"
    )


if __name__ == "__main__":
    main()
