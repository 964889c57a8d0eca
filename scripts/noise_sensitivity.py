"""Print how much a generator's images change when each noise level or latent is redrawn (8-bit levels).

Clouds can only move as far as the images follow the dynamic noise S^dyn: a generator that moves clouds has to answer
to S^dyn at the scale of clouds, not only at the finest levels. See ``deeplandscape_hf.evaluation.metrics.noise_use``.

    python scripts/noise_sensitivity.py [MODEL] [--samples 32] [--seed 0]
"""

from __future__ import annotations

import argparse

import torch

from deeplandscape_hf import DeepLandscapeGenerator
from deeplandscape_hf.evaluation.metrics import noise_sensitivity
from deeplandscape_hf.networks.hub import DEFAULT_MODEL_DIR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default=str(DEFAULT_MODEL_DIR), help="model folder or hub id")
    parser.add_argument("--samples", type=int, default=32, help="images per measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--truncation", type=float, default=0.7)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    generator = DeepLandscapeGenerator.from_pretrained(args.model).eval()
    result = noise_sensitivity(generator, args.samples, truncation=args.truncation, seed=args.seed)
    print(
        f"{args.model}: {generator.resolution} px, {args.samples} samples, seed {args.seed}, truncation "
        f"{args.truncation}; mean |image change| in 8-bit levels when one input is redrawn\n"
    )
    print(result.to_markdown())


if __name__ == "__main__":
    main()
