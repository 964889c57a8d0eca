"""Progressive-growing schedule of DeepLandscape training, as a pure function of the number of images seen.

Supplement section 1 ("Training Configuration") and the official ``train.py``: training starts at 8 px; every
resolution has a transition (fade-in) phase of 600k images, in which ``alpha`` rises linearly from 0 to 1, and a
stabilisation phase of 600k images; after the final resolution has faded in, training goes on at ``alpha = 1``. Batch
size and learning rate depend on the resolution. The probability of a pairwise-D iteration decays linearly from 0.5
to 0.1 over the transition phase of every resolution (the official counter resets at each resolution change), or is
constant (the supplement's ``freq = 0.1 / 0.3 / 0.5`` ablations).

Because the whole state is a function of ``num_images_seen``, resuming needs only that counter (and a batch that
crosses a phase boundary belongs entirely to the phase it started in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Supplement "Training Configuration": (resolution px, batch size).
SUPPLEMENT_BATCH_SIZES: dict[int, int] = {4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 32, 256: 16, 512: 8, 1024: 8}
# Official train.py: {4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 32, 256: 32} with default 32 (so 512+ -> 32).
OFFICIAL_CODE_BATCH_SIZES: dict[int, int] = {
    4: 512,
    8: 256,
    16: 128,
    32: 64,
    64: 32,
    128: 32,
    256: 32,
    512: 32,
    1024: 32,
}
# Supplement + official train.py: 1e-3 up to 64 px, then 1.5e-3 (128), 2e-3 (256), 3e-3 (512, 1024).
LEARNING_RATES: dict[int, float] = {
    4: 1e-3,
    8: 1e-3,
    16: 1e-3,
    32: 1e-3,
    64: 1e-3,
    128: 1.5e-3,
    256: 2e-3,
    512: 3e-3,
    1024: 3e-3,
}
IMAGES_PER_PHASE = 600_000  # supplement: 600k samples of transition, then 600k of stabilisation
PAIRWISE_START_PROBABILITY = 0.5  # official n_frames_params: freq decays from 0.5 ...
PAIRWISE_FINAL_PROBABILITY = 0.1  # ... to final_freq 0.1 over decay_duration = 600k samples
CROP_PROBABILITY = 0.5  # official crop_freq: share of pairwise D steps whose fake pair is two crops of one real frame


def level_of(resolution: int) -> int:
    """Generator / discriminator level of a resolution: 4 px is level 0, 8 px level 1, ..."""
    level = int(round(math.log2(resolution))) - 2
    if resolution < 4 or 4 * 2**level != resolution:
        raise ValueError(f"resolution must be a power of two >= 4, got {resolution}.")
    return level


def _lookup(table: dict[int, float], resolution: int, name: str) -> float:
    if resolution in table:
        return table[resolution]
    raise ValueError(f"the {name} table has no entry for {resolution} px (it has {sorted(table)}).")


@dataclass(frozen=True)
class PhaseState:
    """Where training stands after ``num_images_seen`` images.

    ``phase`` is ``"fade"`` (alpha rising), ``"stable"`` (alpha = 1, another resolution follows) or ``"final"``
    (the last resolution after its fade-in: training goes on until the stopping criterion).
    """

    level: int
    resolution: int
    alpha: float
    phase: str
    phase_index: int  # 0-based index of the resolution in the schedule (changes when loaders must be rebuilt)
    images_into_level: int  # images seen since this resolution started (the official ``used_samples``)
    batch_size: int
    learning_rate: float
    pairwise_probability: float


@dataclass(frozen=True)
class ProgressiveSchedule:
    """Phase table. ``batch_sizes`` / ``learning_rates`` map a resolution (px) to the global batch and Adam lr.

    Args:
        initial_resolution: first trained resolution (the authors start at 8 px).
        final_resolution: the generator's resolution.
        fade_images: images of each transition phase (600k).
        stable_images: images of each stabilisation phase (600k); the final resolution has none (it trains on).
        batch_sizes: global batch per resolution (summed over processes).
        learning_rates: Adam learning rate per resolution (the mapping net gets it times its multiplier).
        pairwise_mode: ``"decay"`` (0.5 -> 0.1 over every fade-in, the paper's default) or ``"constant"``.
        pairwise_start: start of the decay (0.5).
        pairwise_final: end of the decay, and the value outside fade-in phases (0.1).
        pairwise_constant: the probability in ``"constant"`` mode.
        use_pairwise: False for the plain-StyleGAN ablation: the probability is always 0.
        fade_first_level: fade the first level in from the 4 px output, as the authors do (alpha starts at 0).
    """

    initial_resolution: int
    final_resolution: int
    fade_images: int
    stable_images: int
    batch_sizes: dict[int, int]
    learning_rates: dict[int, float]
    pairwise_mode: str = "decay"
    pairwise_start: float = PAIRWISE_START_PROBABILITY
    pairwise_final: float = PAIRWISE_FINAL_PROBABILITY
    pairwise_constant: float = PAIRWISE_FINAL_PROBABILITY
    use_pairwise: bool = True
    fade_first_level: bool = True

    def __post_init__(self) -> None:
        first, last = level_of(self.initial_resolution), level_of(self.final_resolution)
        if first < 1 or first > last:
            raise ValueError(
                f"initial_resolution must be >= 8 px and <= final_resolution, got {self.initial_resolution} and "
                f"{self.final_resolution}."
            )
        if self.fade_images < 0 or self.stable_images < 0:
            raise ValueError(f"phase lengths must be >= 0 images, got {self.fade_images} and {self.stable_images}.")
        if self.pairwise_mode not in ("decay", "constant"):
            raise ValueError(f"pairwise_mode must be 'decay' or 'constant', got {self.pairwise_mode!r}.")
        for name in ("pairwise_start", "pairwise_final", "pairwise_constant"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}.")
        for resolution in self.resolutions:
            batch = int(_lookup(self.batch_sizes, resolution, "batch size"))
            if batch < 1:
                raise ValueError(f"batch size at {resolution} px must be >= 1, got {batch}.")
            _lookup(self.learning_rates, resolution, "learning rate")

    @property
    def resolutions(self) -> list[int]:
        """Every trained resolution, in order."""
        first, last = level_of(self.initial_resolution), level_of(self.final_resolution)
        return [4 * 2**level for level in range(first, last + 1)]

    @property
    def images_per_level(self) -> int:
        return self.fade_images + self.stable_images

    def growth_images(self) -> int:
        """Images until the final resolution has fully faded in (after that: phase ``"final"``)."""
        return self.images_per_level * (len(self.resolutions) - 1) + self._fade_of(len(self.resolutions) - 1)

    def _fade_of(self, phase_index: int) -> int:
        return self.fade_images if (phase_index > 0 or self.fade_first_level) else 0

    def pairwise_probability_at(self, images_into_level: int, phase: str) -> float:
        """Probability that an iteration trains the pairwise D (then G against it) instead of the image D."""
        if not self.use_pairwise:
            return 0.0
        if self.pairwise_mode == "constant":
            return self.pairwise_constant
        if phase != "fade" or self.fade_images == 0:
            return self.pairwise_final  # official: final_freq once the decay is over / in the final stage
        progress = min(1.0, images_into_level / self.fade_images)
        return self.pairwise_start - progress * (self.pairwise_start - self.pairwise_final)

    def state_at(self, num_images_seen: int) -> PhaseState:
        """The phase, resolution, alpha, batch, lr and pairwise probability after ``num_images_seen`` images."""
        if num_images_seen < 0:
            raise ValueError(f"num_images_seen must be >= 0, got {num_images_seen}.")
        count = len(self.resolutions)
        per_level = self.images_per_level
        phase_index = count - 1 if per_level == 0 else min(count - 1, num_images_seen // per_level)
        images_into_level = num_images_seen - phase_index * per_level
        fade = self._fade_of(phase_index)
        if images_into_level < fade:
            phase, alpha = "fade", images_into_level / fade
        else:
            phase, alpha = ("final" if phase_index == count - 1 else "stable"), 1.0
        resolution = self.resolutions[phase_index]
        return PhaseState(
            level=level_of(resolution),
            resolution=resolution,
            alpha=float(alpha),
            phase=phase,
            phase_index=phase_index,
            images_into_level=images_into_level,
            batch_size=int(_lookup(self.batch_sizes, resolution, "batch size")),
            learning_rate=float(_lookup(self.learning_rates, resolution, "learning rate")),
            pairwise_probability=self.pairwise_probability_at(images_into_level, phase),
        )


@dataclass(frozen=True)
class IterationChoice:
    """What one training iteration does: which D it trains, whether the fake pair is real crops, the mixing level."""

    pairwise: bool
    crops: bool
    crossover_level: int | None  # None: no style mixing in this iteration


def choose_iteration(
    state: PhaseState,
    crop_probability: float,
    mixing_probability: float,
    generator: torch.Generator,
) -> IterationChoice:
    """Draw one iteration's choices from ``generator``.

    Every process must make the same choice (they all run the same D), so the trainer passes a generator seeded
    identically on every rank. Exactly three uniforms are drawn per call, whatever the outcome, so the stream stays
    aligned across runs and resumes. The crossover level is uniform in [0, level - 1]: levels above it take the
    second style (official ``train.py``: ``random.sample(range(step), 1)``).
    """
    uniforms = torch.rand(3, generator=generator, dtype=torch.float64).tolist()
    pairwise = uniforms[0] < state.pairwise_probability
    crops = pairwise and uniforms[1] < crop_probability
    crossover = None
    if state.level >= 1 and uniforms[2] < mixing_probability:
        # Reuse the same uniform, rescaled, for the level: conditional on u < p, u / p is uniform in [0, 1).
        crossover = min(state.level - 1, int(uniforms[2] / mixing_probability * state.level))
    return IterationChoice(pairwise=pairwise, crops=crops, crossover_level=crossover)
