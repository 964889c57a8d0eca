"""Shipped GAN training configurations: the paper's 256 / 512 px models, CPU-sized ones, and the 128 px ablations.

The 256 / 512 configs follow supplement section 1 and the official ``configs/train/{256,512}.yaml``; the ablations
follow the official ``configs/train/ablation/`` table: all at 128 px, differing in the pairwise
D, the two noises, the size of z_dyn, same-frame crops and the pairwise-probability schedule. A config is JSON-plain
(``to_dict`` / ``from_dict``) and is stored in every checkpoint, so a resume under a different one is refused.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..networks.discriminator import DiscriminatorConfig
from ..networks.generator import OFFICIAL_CHANNELS, GeneratorConfig
from .schedule import (
    CROP_PROBABILITY,
    IMAGES_PER_PHASE,
    LEARNING_RATES,
    OFFICIAL_CODE_BATCH_SIZES,
    PAIRWISE_FINAL_PROBABILITY,
    SUPPLEMENT_BATCH_SIZES,
    ProgressiveSchedule,
)

# Official model.py: the image D and the pairwise D (NFD_CHANNELS) have the same widths per level (4 px first).
OFFICIAL_D_CHANNELS = [512, 512, 512, 512, 512, 256, 128, 64, 32]
MIXING_PROBABILITY = 0.9  # official train.py: mixing with 2 latents, p = 0.9
R1_GAMMA = 10.0  # official loss_fn 'r1': (10 / 2) * E||grad D(x)||^2
EMA_DECAY = 0.999  # supplement: EMA with alpha = 0.999
MAX_ITERATIONS = 450_000  # supplement: "we train model until the number of batches reaches 450k"
# Keys that may change between a checkpoint and its resume (the change is recorded in the checkpoint's history): how
# long to train, the EMA decay (the EMA copy never feeds back into training), and the per-iteration probabilities
# (pairwise schedule, same-frame crops, style mixing), which steer what comes next but leave the saved weights and the
# place in the progressive schedule as they are. All other keys must match.
RESUMABLE_CHANGES = (
    "name",
    "max_iterations",
    "max_kimg",
    "ema_decay",
    "pairwise_mode",
    "pairwise_constant",
    "crop_probability",
    "mixing_probability",
)
# Keys that shape the networks: a checkpoint's weights do not fit a model built with other values.
ARCHITECTURE_FIELDS = (
    "resolution",
    "generator_channels",
    "discriminator_channels",
    "pairwise_channels",
    "z_dim",
    "z_dynamic_dim",
    "w_dim",
    "mapping_layers",
    "two_noises",
    "rgb_init_gain",
    "fused_from_resolution",
    "use_pairwise",
)


@dataclass
class GanTrainingConfig:
    """Everything that defines a GAN training run (architecture + schedule); runtime flags live in the script."""

    name: str  # config name, for logs and model cards
    resolution: int  # final resolution in px
    generator_channels: list[int]  # per level, 4 px first (GeneratorConfig.channels)
    discriminator_channels: list[int]  # per level, 4 px first (DiscriminatorConfig.channels), image D
    pairwise_channels: list[int]  # per level, pairwise D (each frame's from-RGB gets half)
    z_dim: int = 512
    z_dynamic_dim: int = 3  # official dyn_style_coordinates; 0 in the early ablations
    w_dim: int = 512
    mapping_layers: int = 8
    # M's learning rate over the synthesis network's (official 0.01, for a run of 450k batches; a short run needs M to
    # learn too, or the 3 z_dyn coordinates keep the small share of w that a random M gives them)
    mapping_lr_multiplier: float = 0.01
    two_noises: bool = True  # separate S_st and S_dyn (official n_frames_params.two_noises)
    rgb_init_gain: float = 1.0  # initial to-RGB weights x this (GeneratorConfig; 1 = the authors' init)
    fused_from_resolution: int = 128  # G/D use fused up/downsampling from here (official)
    use_pairwise: bool = True  # False: plain StyleGAN ("original" ablation), no videos needed
    pairwise_mode: str = "decay"  # "decay" 0.5 -> 0.1 over every fade-in, or "constant"
    pairwise_constant: float = PAIRWISE_FINAL_PROBABILITY  # probability in "constant" mode (freq_01/03/05)
    crop_probability: float = CROP_PROBABILITY  # share of pairwise D steps with same-frame crops as the fake pair
    initial_resolution: int = 8  # official INIT_SIZE
    fade_images: int = IMAGES_PER_PHASE  # images of each transition phase
    stable_images: int = IMAGES_PER_PHASE  # images of each stabilisation phase
    batch_sizes: dict[int, int] = field(default_factory=lambda: dict(SUPPLEMENT_BATCH_SIZES))  # global batch per px
    learning_rates: dict[int, float] = field(default_factory=lambda: dict(LEARNING_RATES))  # Adam lr per px
    mixing_probability: float = MIXING_PROBABILITY
    r1_gamma: float = R1_GAMMA
    ema_decay: float = EMA_DECAY
    max_iterations: int | None = MAX_ITERATIONS  # stop after this many iterations (batches) ...
    max_kimg: float | None = None  # ... or this many thousand images, whichever comes first

    def __post_init__(self) -> None:
        self.batch_sizes = {int(k): int(v) for k, v in self.batch_sizes.items()}
        self.learning_rates = {int(k): float(v) for k, v in self.learning_rates.items()}
        for name in ("crop_probability", "mixing_probability", "pairwise_constant"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}.")
        if self.max_iterations is None and self.max_kimg is None:
            raise ValueError("set max_iterations or max_kimg, or training never stops.")
        # Build everything once so a bad config fails here, before any data is read.
        self.generator_config()
        self.discriminator_config(frames=1)
        if self.use_pairwise:
            self.discriminator_config(frames=2)
        self.schedule()

    # ------------------------------------------------------------------------------------------------- builders
    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig(
            resolution=self.resolution,
            channels=list(self.generator_channels),
            z_dim=self.z_dim,
            z_dynamic_dim=self.z_dynamic_dim,
            w_dim=self.w_dim,
            mapping_layers=self.mapping_layers,
            mapping_lr_multiplier=self.mapping_lr_multiplier,
            fused_from_resolution=self.fused_from_resolution,
            two_noises=self.two_noises,
            rgb_init_gain=self.rgb_init_gain,
        )

    def discriminator_config(self, frames: int) -> DiscriminatorConfig:
        channels = self.discriminator_channels if frames == 1 else self.pairwise_channels
        return DiscriminatorConfig(
            resolution=self.resolution,
            channels=list(channels),
            fused_from_resolution=self.fused_from_resolution,
            frames=frames,
        )

    def schedule(self) -> ProgressiveSchedule:
        return ProgressiveSchedule(
            initial_resolution=self.initial_resolution,
            final_resolution=self.resolution,
            fade_images=self.fade_images,
            stable_images=self.stable_images,
            batch_sizes=self.batch_sizes,
            learning_rates=self.learning_rates,
            pairwise_mode=self.pairwise_mode,
            pairwise_constant=self.pairwise_constant,
            use_pairwise=self.use_pairwise,
        )

    # ------------------------------------------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["batch_sizes"] = {str(k): v for k, v in sorted(self.batch_sizes.items())}
        data["learning_rates"] = {str(k): v for k, v in sorted(self.learning_rates.items())}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GanTrainingConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training config fields {unknown}; known: {sorted(known)}.")
        return cls(**data)

    def replace(self, **changes: Any) -> GanTrainingConfig:
        return dataclasses.replace(self, **changes)


def _paper(resolution: int) -> GanTrainingConfig:
    levels = resolution.bit_length() - 2  # 4 px .. resolution
    return GanTrainingConfig(
        name=str(resolution),
        resolution=resolution,
        generator_channels=OFFICIAL_CHANNELS[:levels],
        discriminator_channels=OFFICIAL_D_CHANNELS[:levels],
        pairwise_channels=OFFICIAL_D_CHANNELS[:levels],
    )


def _ablation(name: str, **changes: Any) -> GanTrainingConfig:
    # Official configs/train/ablation/*: every ablation is the full model at 128 px with some parts switched off.
    return _paper(128).replace(name=name, **changes)


def _tiny() -> GanTrainingConfig:
    # CPU smoke test: 8 -> 16 px in a few hundred images; every moving part (both Ds, crops, mixing, fades) is on.
    return GanTrainingConfig(
        name="tiny",
        resolution=16,
        generator_channels=[16, 16, 16],
        discriminator_channels=[16, 16, 16],
        pairwise_channels=[16, 16, 16],
        z_dim=32,
        w_dim=32,
        mapping_layers=2,
        fade_images=64,
        stable_images=64,
        batch_sizes={8: 8, 16: 8},
        learning_rates={8: 1e-3, 16: 1e-3},
        max_iterations=None,
        max_kimg=1.0,
    )


def _default_small() -> GanTrainingConfig:
    # Placeholder for the bundled CPU-trained model (tuned by the maintainers): 128 px, narrow channels, short phases.
    return GanTrainingConfig(
        name="default-small",
        resolution=128,
        generator_channels=[128, 128, 128, 64, 32, 16],
        discriminator_channels=[128, 128, 128, 64, 32, 16],
        pairwise_channels=[128, 128, 128, 64, 32, 16],
        z_dim=256,
        w_dim=256,
        mapping_layers=8,
        fade_images=30_000,
        stable_images=30_000,
        batch_sizes={8: 64, 16: 32, 32: 32, 64: 16, 128: 8},
        max_iterations=None,
        max_kimg=600.0,
    )


_FACTORIES = {
    "256": lambda: _paper(256),
    "512": lambda: _paper(512),
    "tiny": _tiny,
    "default-small": _default_small,
    "original": lambda: _ablation(
        "original", use_pairwise=False, two_noises=False, z_dynamic_dim=0, crop_probability=0.0
    ),
    "frame_discr": lambda: _ablation("frame_discr", two_noises=False, z_dynamic_dim=0, crop_probability=0.0),
    "two_noises": lambda: _ablation("two_noises", z_dynamic_dim=0, crop_probability=0.0),
    "two_noises_z3": lambda: _ablation("two_noises_z3", crop_probability=0.0),
    "two_noises_z3_crop_decay": lambda: _ablation("two_noises_z3_crop_decay"),
    "freq_01": lambda: _ablation("freq_01", pairwise_mode="constant", pairwise_constant=0.1),
    "freq_03": lambda: _ablation("freq_03", pairwise_mode="constant", pairwise_constant=0.3),
    "freq_05": lambda: _ablation("freq_05", pairwise_mode="constant", pairwise_constant=0.5),
}
CONFIG_NAMES = tuple(_FACTORIES)


def get_config(name_or_path: str) -> GanTrainingConfig:
    """A shipped config by name (see ``CONFIG_NAMES``) or a JSON file written from ``GanTrainingConfig.to_dict``."""
    if name_or_path in _FACTORIES:
        return _FACTORIES[name_or_path]()
    path = Path(name_or_path)
    if path.suffix == ".json" and path.is_file():
        return GanTrainingConfig.from_dict(json.loads(path.read_text()))
    raise ValueError(f"unknown config {name_or_path!r}: use one of {', '.join(CONFIG_NAMES)} or a .json file.")


def official_batch_sizes(config: GanTrainingConfig) -> GanTrainingConfig:
    """The config with the official code's batch table (32 at 128 px and up) instead of the supplement's."""
    return config.replace(batch_sizes={r: OFFICIAL_CODE_BATCH_SIZES[r] for r in config.batch_sizes})
