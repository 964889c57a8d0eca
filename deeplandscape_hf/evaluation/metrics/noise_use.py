"""How much a generator's images depend on each of its random inputs: a diagnostic of trained models, not in the paper.

DeepLandscape animates by warping the dynamic noise S^dyn, so clouds move only as far as the generator's images follow
S^dyn. A generator whose coarse S^dyn levels do nothing can only shimmer fine texture, however fast the noise moves;
one whose land follows S^dyn as much as its sky does needs the movable mask to keep the land still. This module
measures that: redraw one input, keep the rest, and report the mean absolute change of the images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .report import format_markdown_table

__all__ = ["NoiseSensitivity", "noise_sensitivity"]

EIGHT_BIT_LEVELS = 127.5  # images are in [-1, 1]: a change of 1 / 127.5 is one 8-bit level


@dataclass
class NoiseSensitivity:
    """Mean |image change| in 8-bit levels (0..255 scale) when one input is redrawn and the others are kept.

    ``levels``: one row per synthesis level, ``{"level", "size", "dynamic_noise", "static_noise"}``.
    ``inputs``: the whole of each input, ``{"dynamic_noise", "static_noise", "z_dynamic", "z_static"}``.
    """

    levels: list[dict[str, float]]
    inputs: dict[str, float]

    def to_markdown(self) -> str:
        levels = [
            {
                "level": r["level"],
                "noise side": r["size"],
                "S^dyn redrawn": r["dynamic_noise"],
                "S^st redrawn": r["static_noise"],
            }
            for r in self.levels
        ]
        inputs = [
            {"input redrawn": name, "mean image change (8-bit levels)": value} for name, value in self.inputs.items()
        ]
        return (
            format_markdown_table(levels, ("level", "noise side", "S^dyn redrawn", "S^st redrawn"))
            + "\n"
            + format_markdown_table(inputs, ("input redrawn", "mean image change (8-bit levels)"))
        )


@torch.no_grad()
def noise_sensitivity(
    generator_model: torch.nn.Module, num_samples: int = 32, *, truncation: float = 0.7, seed: int = 0
) -> NoiseSensitivity:
    """Redraw each input of ``generator_model`` (a ``DeepLandscapeGenerator``) in turn and measure the image change.

    All draws come from one ``torch.Generator`` seeded with ``seed``, so the numbers are reproducible. ``num_samples``
    images are rendered in one batch at full resolution, ``2 * num_levels + 5`` times.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
    G = generator_model
    rng = torch.Generator().manual_seed(seed)
    z = G.sample_z(num_samples, rng)
    static, dynamic = G.make_noise(num_samples, generator=rng)
    fresh_z = G.sample_z(num_samples, rng)
    fresh_static, fresh_dynamic = G.make_noise(num_samples, generator=rng)
    base = G(z, static, dynamic, truncation=truncation)

    def change(z_used: torch.Tensor, static_used: list[torch.Tensor], dynamic_used: list[torch.Tensor]) -> float:
        images = G(z_used, static_used, dynamic_used, truncation=truncation)
        return float((images - base).abs().mean()) * EIGHT_BIT_LEVELS

    def replaced(maps: list[torch.Tensor], fresh: list[torch.Tensor], level: int) -> list[torch.Tensor]:
        return [fresh[i] if i == level else m for i, m in enumerate(maps)]

    levels = []
    for level, size in enumerate(G.noise_sizes()):
        levels.append(
            {
                "level": level,
                "size": size,
                "dynamic_noise": change(z, static, replaced(dynamic, fresh_dynamic, level)),
                "static_noise": change(z, replaced(static, fresh_static, level), dynamic),
            }
        )
    z_static, z_dynamic = G.split_z(z)
    fresh_z_static, fresh_z_dynamic = G.split_z(fresh_z)
    inputs = {
        "dynamic_noise": change(z, static, fresh_dynamic),
        "static_noise": change(z, fresh_static, dynamic),
        "z_dynamic": change(G.join_z(z_static, fresh_z_dynamic), static, dynamic),
        "z_static": change(G.join_z(fresh_z_static, z_dynamic), static, dynamic),
    }
    return NoiseSensitivity(levels, inputs)
