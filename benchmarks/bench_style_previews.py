"""The app's "Preview styles": seconds to render a photo in every style from its cached inversion.

    python benchmarks/bench_style_previews.py [--model MODEL] [--photo examples/mountains_clouds_01.jpg]
        [--preset fast] [--vocabulary {model,authors}] [--targets {photo,model}] [--threads 2]

Target (this 2-core CPU): the eight named styles in <= 10 s once the photo is inverted. By default the styles the
model offers, each fitted to the photo as the app does (``PipelineConfig.fit_styles_to_photo``); ``--vocabulary
authors`` times all eight with the authors' targets, used as given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))  # the style scripts' one way to pick a model and its style names

from measure_styles import add_model_arguments, load_styled_pipeline  # noqa: E402

from deeplandscape_hf.animation.images import load_image  # noqa: E402
from deeplandscape_hf.motion.styles import style_stills  # noqa: E402

TARGET_SECONDS = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument("--photo", type=Path, default=REPO / "examples" / "mountains_clouds_01.jpg")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe, styles = load_styled_pipeline(args)
    started = time.perf_counter()
    inverted = pipe.invert(load_image(args.photo), preset=args.preset, generator=torch.Generator().manual_seed(0))
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
