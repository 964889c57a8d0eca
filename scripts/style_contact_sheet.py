"""A contact sheet of one photo in every time-of-day style a model offers (for the README and the model card).

    python scripts/style_contact_sheet.py [--model MODEL] [--photo examples/mountains_clouds_01.jpg]
        [--out docs/styles.png] [--preset fast] [--width 240] [--vocabulary {model,authors}]

The photo is inverted once; each tile is the last frame of that style's video (the photo's own light first). Names
the model cannot reach (see ``deeplandscape calibrate-styles``) are listed under the tiles instead of drawn.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from measure_styles import add_model_arguments, load_styled_pipeline  # the sibling script: one way to pick a model
from PIL import Image, ImageDraw

from deeplandscape_hf.animation.images import load_image
from deeplandscape_hf.motion.styles import style_stills

REPO = Path(__file__).resolve().parents[1]
CAPTION_PX = 16
COLUMNS = 3
PALETTE_COLOURS = 255  # a paletted PNG keeps the sheet small enough for the repository


def contact_sheet(tiles: list[tuple[Image.Image, str]], width: int, footer: str) -> Image.Image:
    """Tiles of ``width`` px in rows of COLUMNS, each with its caption above; ``footer`` on a last line."""
    scaled = [(tile.resize((width, round(tile.height * width / tile.width)), Image.Resampling.LANCZOS), text)
              for tile, text in tiles]  # fmt: skip
    tile_height = max(tile.height for tile, _ in scaled) + CAPTION_PX
    rows = -(-len(scaled) // COLUMNS)
    sheet = Image.new("RGB", (COLUMNS * width, rows * tile_height + (CAPTION_PX if footer else 0)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (tile, text) in enumerate(scaled):
        x, y = (index % COLUMNS) * width, (index // COLUMNS) * tile_height
        draw.text((x + 4, y + 2), text, fill="black")
        sheet.paste(tile, (x, y + CAPTION_PX))
    if footer:
        draw.text((4, rows * tile_height + 2), footer, fill="black")
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument("--photo", type=Path, default=REPO / "examples" / "mountains_clouds_01.jpg")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "styles.png")
    parser.add_argument("--width", type=int, default=240, help="tile width in px")
    args = parser.parse_args()
    pipe, offered = load_styled_pipeline(args)
    unreachable = [name for name in pipe.config.style_vocabulary().styles if name not in offered]
    inverted = pipe.invert(load_image(args.photo), preset=args.preset, generator=torch.Generator().manual_seed(0))
    stills = style_stills(pipe, inverted, [None, *offered])
    captions = ["photo's own light (reconstruction)", *(name.replace("_", " ") for name in offered)]
    footer = f"not reachable with this model: {', '.join(unreachable)}" if unreachable else ""
    sheet = contact_sheet(list(zip(stills, captions, strict=True)), args.width, footer)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(PALETTE_COLOURS).save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB): {args.photo.name} in {len(stills)} looks")


if __name__ == "__main__":
    main()
