"""Frames and a short GIF of a real photo animated by a model, for the README and the model card.

    python scripts/motion_frames.py [--photo examples/mountains_clouds_01.jpg] [--model MODEL] [--out docs]

Writes ``motion_frames.jpg`` (frames 0, middle and last, one above the other, with the movable mask outlined in
the first) and ``motion.gif`` (a seamless loop, small enough for a README) with the hybrid motion source and the
fast preset, offline.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

from deeplandscape_hf import DeepLandscapePipeline
from deeplandscape_hf.animation.video import write_video

ROOT = Path(__file__).resolve().parent.parent
STRIP_WIDTH = 640
GIF_WIDTH = 360
GIF_STEP = 2  # every other frame, at half the rate: the same motion in half the file


def outline(frame: Image.Image, mask: Image.Image) -> Image.Image:
    """The frame with the border of the movable mask drawn in yellow."""
    movable = np.asarray(mask) > 0
    edge = movable & ~ndimage.binary_erosion(movable, iterations=2)
    pixels = np.asarray(frame).copy()
    pixels[edge] = (255, 220, 0)
    return Image.fromarray(pixels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", type=Path, default=ROOT / "examples" / "mountains_clouds_01.jpg")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the bundled model)")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--motion", default="man2")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()

    pipe = DeepLandscapePipeline.from_pretrained(args.model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pipe(
            str(args.photo),
            preset="fast",
            motion=args.motion,
            num_frames=args.frames,
            loop=True,
            generator=torch.Generator().manual_seed(0),
        )
    frames = out.frames
    picks = [0, len(frames) // 2, len(frames) - 1]
    scale = STRIP_WIDTH / frames[0].width
    size = (STRIP_WIDTH, round(frames[0].height * scale))
    rows = [outline(frames[0], out.mask)] + [frames[index] for index in picks[1:]]
    rows = [row.resize(size, Image.Resampling.LANCZOS) for row in rows]
    strip = Image.new("RGB", (size[0], size[1] * len(rows)))
    draw = ImageDraw.Draw(strip)
    for position, (row, index) in enumerate(zip(rows, picks)):
        strip.paste(row, (0, position * size[1]))
        draw.text((8, position * size[1] + 6), f"frame {index}", fill=(255, 255, 255))
    args.out.mkdir(parents=True, exist_ok=True)
    strip.save(args.out / "motion_frames.jpg", quality=85, optimize=True)
    gif_size = (GIF_WIDTH, round(frames[0].height * GIF_WIDTH / frames[0].width))
    small = [frame.resize(gif_size, Image.Resampling.LANCZOS) for frame in frames[::GIF_STEP]]
    write_video(small, args.out / "motion.gif", fps=out.fps / GIF_STEP)
    print(f"wrote {args.out / 'motion_frames.jpg'} and {args.out / 'motion.gif'} ({args.photo.name}, {out.mode})")


if __name__ == "__main__":
    main()
