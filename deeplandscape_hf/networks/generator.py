"""DeepLandscape generator: a progressive StyleGAN-1 whose every block gets a static and a dynamic noise map.

Paper names and code names, fixed once:

| paper  | code            | shape                              |
|--------|-----------------|------------------------------------|
| z_st   | ``z_static``    | (B, z_dim - z_dynamic_dim)         |
| z_dyn  | ``z_dynamic``   | (B, z_dynamic_dim), the LAST coords |
| w      | ``w``           | (B, w_dim)                         |
| W+     | ``w_plus``      | (B, num_ws, w_dim), one w per AdaIN |
| S^st   | ``static_noise``  | list over levels of (B, 1, s, s) |
| S^dyn  | ``dynamic_noise`` | list over levels of (B, 1, s, s) |

``level`` 0 is the 4 px block; ``resolution = 4 * 2 ** level``. The authors call it ``step``. Frames of a video are
folded into the batch: a (B, T) video is rendered as B*T images that share ``w_plus`` and ``static_noise``.
Motion comes from warping ``dynamic_noise`` over time (``motion.py``); time of day from changing ``z_dynamic``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .hub import HUB_METADATA, HubModelMixin
from .layers import (
    AdaIN,
    Blur,
    ConstantInput,
    EqualConv2d,
    EqualLinear,
    FusedUpsample,
    NearestUpsampleConv2d,
    NoiseInjection,
    PixelNorm,
    check_shape,
)

# Channels per level (4 px ... 1024 px) of the authors' generator.
OFFICIAL_CHANNELS = [512, 512, 512, 512, 256, 128, 64, 32, 16]
SUPPORTED_RESOLUTIONS = (8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class LevelPlan:
    """How one synthesis level runs: two ways to compute the same numbers, up to float rounding.

    ``transposed_upsample``: nearest upsampling + 3x3 conv as one transposed conv (`NearestUpsampleConv2d`);
    ``channels_last``: the level's activations in NHWC memory on CPU (oneDNN's fast layout for wide maps).
    """

    transposed_upsample: bool
    channels_last: bool


# Per output side, measured on a 2-core AVX2 CPU (fp32, batch 1 and 8, official channel counts) with
# `python benchmarks/bench_generate.py --level-table` (medians of interleaved rounds): per side, the variant whose
# times at batch 1 and 8, each relative to that batch's fastest variant, sum lowest. Sides missing here (512,
# 1024 px) take the largest measured one's plan.
CPU_LEVEL_PLANS = {
    4: LevelPlan(transposed_upsample=False, channels_last=False),
    8: LevelPlan(transposed_upsample=True, channels_last=True),
    16: LevelPlan(transposed_upsample=True, channels_last=True),
    32: LevelPlan(transposed_upsample=True, channels_last=True),
    64: LevelPlan(transposed_upsample=True, channels_last=True),
    128: LevelPlan(transposed_upsample=True, channels_last=True),
    256: LevelPlan(transposed_upsample=True, channels_last=True),
}


def level_plan(resolution: int) -> LevelPlan:
    """The measured `LevelPlan` of the level that outputs ``resolution`` px."""
    return CPU_LEVEL_PLANS.get(resolution, CPU_LEVEL_PLANS[max(CPU_LEVEL_PLANS)])


@dataclass
class GeneratorConfig:
    """Architecture of :class:`DeepLandscapeGenerator`.

    Args:
        resolution: output size in pixels (a power of two, 8 to 1024).
        channels: feature channels per level, level 0 = 4 px; at least one entry per level.
        z_dim: size of z; its last ``z_dynamic_dim`` coordinates are z_dyn (lighting / time of day).
        w_dim: size of w (the style fed to every AdaIN).
        mapping_layers: depth of the mapping network M.
        mapping_lr_multiplier: learning-rate factor of M's optimizer group (the authors use lr x 0.01 there).
        fused_from_resolution: from this resolution up, upsampling is a transposed conv (FusedUpsample).
        two_noises: separate static and dynamic noise maps (False is the single-noise StyleGAN ablation; then only
            ``dynamic_noise`` is used).
        truncation: default truncation psi for sampling.
        fade_in_alpha: blend of the last level when rendering at full resolution (`synthesize` with ``alpha=None``):
            1 for a finished model; a checkpoint saved in the middle of a fade-in phase renders, as its authors' code
            does, (1 - alpha) x the upsampled previous level's RGB + alpha x the last level's.
        rgb_init_gain: factor on the initial to-RGB weights (training from scratch only; loaded weights replace
            them). 1 is the authors' init, whose fresh outputs have a std near 3 against about 0.5 for photos: with
            their 600k images per phase G has time to shrink that, a short CPU run does not (every fade-in then
            blends in near-random colours and the discriminator takes over), so small configs start lower.
    """

    resolution: int = 256
    channels: list[int] = field(default_factory=lambda: list(OFFICIAL_CHANNELS))
    z_dim: int = 512
    z_dynamic_dim: int = 3
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    fused_from_resolution: int = 128
    two_noises: bool = True
    truncation: float = 0.7
    fade_in_alpha: float = 1.0
    rgb_init_gain: float = 1.0

    def __post_init__(self) -> None:
        if self.resolution not in SUPPORTED_RESOLUTIONS:
            raise ValueError(f"resolution must be one of {SUPPORTED_RESOLUTIONS}, got {self.resolution}.")
        self.channels = [int(c) for c in self.channels]
        if len(self.channels) < self.num_levels:
            raise ValueError(
                f"channels needs one entry per level ({self.num_levels} for {self.resolution} px), "
                f"got {len(self.channels)}."
            )
        if not 0 <= self.fade_in_alpha <= 1:
            raise ValueError(f"fade_in_alpha must be in [0, 1] (1 = no fade-in), got {self.fade_in_alpha}.")
        if not 0 <= self.z_dynamic_dim < self.z_dim:
            raise ValueError(f"z_dynamic_dim must be in [0, z_dim), got {self.z_dynamic_dim} with z_dim {self.z_dim}.")

    @property
    def num_levels(self) -> int:
        return int(math.log2(self.resolution)) - 1

    @property
    def num_ws(self) -> int:
        return 2 * self.num_levels


class MappingNetwork(nn.Module):
    """M: PixelNorm over the whole z (z_dyn included), then equalized linear layers with LeakyReLU."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int):
        super().__init__()
        layers: list[nn.Module] = [PixelNorm()]
        for index in range(num_layers):
            layers += [EqualLinear(z_dim if index == 0 else w_dim, w_dim), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class SynthesisBlock(nn.Module):
    """One resolution: conv -> +S_st -> +S_dyn -> LReLU -> AdaIN, twice. Both convs share the level's two maps."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        upsample: str,
        two_noises: bool,
        plan: LevelPlan = LevelPlan(transposed_upsample=True, channels_last=True),
    ):
        super().__init__()
        self.channels_last = plan.channels_last
        if upsample == "none":  # level 0 starts from a learned constant
            self.conv1: nn.Module = ConstantInput(out_channels)
        elif upsample == "nearest":
            upsample_conv = NearestUpsampleConv2d(in_channels, out_channels, transposed=plan.transposed_upsample)
            self.conv1 = nn.Sequential(upsample_conv, Blur(out_channels))
        elif upsample == "fused":
            self.conv1 = nn.Sequential(FusedUpsample(in_channels, out_channels, 3), Blur(out_channels))
        else:
            raise ValueError(f"upsample must be 'none', 'nearest' or 'fused', got {upsample!r}.")
        self.two_noises = two_noises
        self.static_noise1 = NoiseInjection(out_channels) if two_noises else None
        self.dynamic_noise1 = NoiseInjection(out_channels)
        self.adain1 = AdaIN(out_channels, w_dim)
        self.conv2 = EqualConv2d(out_channels, out_channels, 3, padding=1)
        self.static_noise2 = NoiseInjection(out_channels) if two_noises else None
        self.dynamic_noise2 = NoiseInjection(out_channels)
        self.adain2 = AdaIN(out_channels, w_dim)
        self.activation = nn.LeakyReLU(0.2)

    def _memory_format(self, x: torch.Tensor) -> torch.memory_format:
        # The measured plan is for CPUs; GPU convolutions (cuDNN, bf16 above all) prefer NHWC at every size.
        return torch.channels_last if self.channels_last or x.device.type != "cpu" else torch.contiguous_format

    def _noise_and_activation(
        self, x: torch.Tensor, static: nn.Module | None, dynamic: nn.Module, noise, in_place: bool
    ) -> torch.Tensor:
        static_map, dynamic_map = noise
        if static is not None:
            x = static(x, static_map, in_place=in_place)
        x = dynamic(x, dynamic_map, in_place=in_place)
        return F.leaky_relu(x, self.activation.negative_slope, inplace=in_place)

    def forward(
        self, x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, noise: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        # Outside autograd the element-wise steps overwrite the fresh conv output instead of allocating a new map
        # each (at 256 px in batches of 8, 134 MB apiece). Not under bf16 autocast: there the out-of-place steps
        # promote the maps to fp32, and keeping them in bf16 cost 3 dB of frame PSNR on a small test generator.
        in_place = not torch.is_grad_enabled() and not torch.is_autocast_enabled(w1.device.type)
        x = self.conv1(w1.shape[0]) if isinstance(self.conv1, ConstantInput) else self.conv1(x)
        x = x.contiguous(memory_format=self._memory_format(x))
        x = self._noise_and_activation(x, self.static_noise1, self.dynamic_noise1, noise, in_place)
        x = self.adain1(x, w1)
        x = self.conv2(x)
        x = self._noise_and_activation(x, self.static_noise2, self.dynamic_noise2, noise, in_place)
        return self.adain2(x, w2)


class DeepLandscapeGenerator(nn.Module, HubModelMixin, **HUB_METADATA):
    """DeepLandscape generator G = synthesis(M(z), S_st, S_dyn). See the module docstring for names and shapes.

    ``forward(z)`` samples images; ``synthesize(w_plus, static_noise, dynamic_noise)`` is the path inversion and
    video rendering use. ``w_avg`` (a saved buffer) is the mean w used for truncation.
    """

    def __init__(self, config: GeneratorConfig | None = None):
        super().__init__()
        self.config = config = config or GeneratorConfig()
        channels = config.channels
        self.mapping = MappingNetwork(config.z_dim, config.w_dim, config.mapping_layers)
        self.blocks = nn.ModuleList()
        self.to_rgb = nn.ModuleList()
        for level in range(config.num_levels):
            resolution = 4 * 2**level
            if level == 0:
                upsample = "none"
            else:
                upsample = "fused" if resolution >= config.fused_from_resolution else "nearest"
            in_channels = channels[max(level - 1, 0)]
            self.blocks.append(
                SynthesisBlock(
                    in_channels, channels[level], config.w_dim, upsample, config.two_noises, level_plan(resolution)
                )
            )
            self.to_rgb.append(EqualConv2d(channels[level], 3, 1))
            if config.rgb_init_gain != 1.0:
                with torch.no_grad():
                    self.to_rgb[-1].weight.mul_(config.rgb_init_gain)
        self.register_buffer("w_avg", torch.zeros(config.w_dim))

    # ----------------------------------------------------------------------------------------------- properties
    @property
    def num_levels(self) -> int:
        return self.config.num_levels

    @property
    def num_ws(self) -> int:
        return self.config.num_ws

    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def device(self) -> torch.device:
        return self.w_avg.device

    def noise_sizes(self, level: int | None = None) -> list[int]:
        """Side of the noise maps of each level up to ``level`` (default: all)."""
        last = self.num_levels - 1 if level is None else level
        return [4 * 2**index for index in range(last + 1)]

    # ----------------------------------------------------------------------------------------------- latents
    def sample_z(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I) of shape (B, z_dim), drawn on the CPU generator's device then moved to the model's."""
        device = generator.device if generator is not None else self.device
        return torch.randn(batch_size, self.config.z_dim, generator=generator, device=device).to(self.device)

    def split_z(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_static, z_dynamic): z_dynamic is the last ``z_dynamic_dim`` coordinates."""
        self._check_z(z)
        cut = self.config.z_dim - self.config.z_dynamic_dim
        return z[:, :cut], z[:, cut:]

    def join_z(self, z_static: torch.Tensor, z_dynamic: torch.Tensor) -> torch.Tensor:
        z = torch.cat([z_static, z_dynamic], dim=1)
        self._check_z(z)
        return z

    def _check_z(self, z: torch.Tensor) -> None:
        check_shape(z, (None, self.config.z_dim), "z")

    def map(self, z: torch.Tensor) -> torch.Tensor:
        """M(z): (B, z_dim) -> w (B, w_dim)."""
        self._check_z(z)
        return self.mapping(z)

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        """w_avg + psi (w - w_avg); psi = 1 is no truncation."""
        return w if psi == 1 else torch.lerp(self.w_avg.to(w.dtype), w, psi)

    def broadcast_w(self, w: torch.Tensor) -> torch.Tensor:
        """One w per AdaIN: (B, w_dim) -> (B, num_ws, w_dim)."""
        check_shape(w, (None, self.config.w_dim), "w")
        return w[:, None, :].expand(-1, self.num_ws, -1)

    def mix_styles(self, w_plus: torch.Tensor, w_other: torch.Tensor, crossover_level: int) -> torch.Tensor:
        """Style mixing: levels above ``crossover_level`` take ``w_other`` (both AdaINs of a level change together)."""
        if not 0 <= crossover_level < self.num_levels:
            raise ValueError(f"crossover_level must be in [0, {self.num_levels}), got {crossover_level}.")
        mixed = w_plus.clone()
        mixed[:, 2 * (crossover_level + 1) :] = w_other[:, None, :]
        return mixed

    @torch.no_grad()
    def compute_w_avg(
        self, num_samples: int = 102_400, seed: int = 0, batch_size: int = 1024, progress: bool = False
    ) -> torch.Tensor:
        """Mean of M(z) over ``num_samples`` z ~ N(0, I) drawn with a fixed seed; stored in ``w_avg``."""
        from tqdm.auto import tqdm

        generator = torch.Generator().manual_seed(seed)
        total = torch.zeros(self.config.w_dim, dtype=torch.float64, device=self.device)
        for start in tqdm(
            range(0, num_samples, batch_size), desc="w_avg", unit="batch", disable=not progress, leave=False
        ):
            count = min(batch_size, num_samples - start)
            z = torch.randn(count, self.config.z_dim, generator=generator).to(self.device)
            total += self.mapping(z).double().sum(0)
        self.w_avg.copy_((total / num_samples).to(self.w_avg.dtype))
        return self.w_avg

    # ----------------------------------------------------------------------------------------------- noise
    def make_noise(
        self,
        batch_size: int,
        level: int | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Fresh N(0, 1) (static_noise, dynamic_noise), each a list over levels of (B, 1, s, s)."""
        device = generator.device if generator is not None else self.device
        maps = []
        for size in self.noise_sizes(level):
            pair = torch.randn(2, batch_size, 1, size, size, generator=generator, device=device)
            maps.append(pair.to(self.device, dtype or torch.float32))
        return [pair[0] for pair in maps], [pair[1] for pair in maps]

    def _check_noise(self, noise: Sequence[torch.Tensor], name: str, batch: int, level: int) -> None:
        if not isinstance(noise, (list, tuple)):
            raise ValueError(f"{name} must be a list of tensors (one per level), got {type(noise).__name__}.")
        if len(noise) not in (level + 1, self.num_levels):
            raise ValueError(
                f"{name} must hold one map per level: {level + 1} (up to level {level}) or {self.num_levels}, "
                f"got {len(noise)}."
            )
        for index, size in enumerate(self.noise_sizes(level)):
            check_shape(noise[index], (batch, 1, size, size), f"{name}[{index}]")

    # ----------------------------------------------------------------------------------------------- synthesis
    def synthesize(
        self,
        w_plus: torch.Tensor,
        static_noise: Sequence[torch.Tensor],
        dynamic_noise: Sequence[torch.Tensor],
        level: int | None = None,
        alpha: float | None = None,
    ) -> torch.Tensor:
        """Images (N, 3, H, W), roughly in [-1, 1], from W+ (N, num_ws, w_dim) and per-level noise maps.

        ``level`` (default: the last) stops growth early for progressive training; ``alpha`` < 1 blends in the
        nearest-upsampled RGB of the previous level, as during a fade-in phase. ``alpha=None`` is the config's
        ``fade_in_alpha`` at the last level (1 for a finished model) and 1 below it. Under bf16 autocast
        (`deeplandscape_hf.networks.precision`) the images still come back in fp32.
        """
        level = self.num_levels - 1 if level is None else level
        if alpha is None:
            alpha = self.config.fade_in_alpha if level == self.num_levels - 1 else 1.0
        if not 0 <= level < self.num_levels:
            raise ValueError(
                f"level must be in [0, {self.num_levels - 1}] for a {self.resolution} px model, got {level}."
            )
        check_shape(w_plus, (None, self.num_ws, self.config.w_dim), "w_plus")
        batch = w_plus.shape[0]
        self._check_noise(static_noise, "static_noise", batch, level)
        self._check_noise(dynamic_noise, "dynamic_noise", batch, level)

        x = previous = None
        for index in range(level + 1):
            previous = x
            x = self.blocks[index](
                x, w_plus[:, 2 * index], w_plus[:, 2 * index + 1], (static_noise[index], dynamic_noise[index])
            )
        rgb = self.to_rgb[level](x)
        if level > 0 and 0 <= alpha < 1:
            skip = F.interpolate(self.to_rgb[level - 1](previous), scale_factor=2, mode="nearest")
            rgb = torch.lerp(skip, rgb, alpha)
        return rgb.float() if torch.is_autocast_enabled(rgb.device.type) else rgb  # fp32 frames from bf16 runs

    def forward(
        self,
        z: torch.Tensor,
        static_noise: Sequence[torch.Tensor] | None = None,
        dynamic_noise: Sequence[torch.Tensor] | None = None,
        *,
        truncation: float = 1.0,
        mixing_z: torch.Tensor | None = None,
        crossover_level: int | None = None,
        level: int | None = None,
        alpha: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Images (B, 3, H, W) from z (B, z_dim). Missing noise maps are drawn fresh (from ``generator``).

        ``mixing_z`` with ``crossover_level`` applies style mixing: levels above the crossover use M(mixing_z).
        """
        w = self.truncate(self.map(z), truncation)
        w_plus = self.broadcast_w(w)
        if mixing_z is not None:
            if crossover_level is None:
                raise ValueError("mixing_z needs crossover_level (levels above it take the second style).")
            w_plus = self.mix_styles(w_plus, self.truncate(self.map(mixing_z), truncation), crossover_level)
        if static_noise is None or dynamic_noise is None:
            fresh_static, fresh_dynamic = self.make_noise(z.shape[0], level, generator)
            static_noise = fresh_static if static_noise is None else static_noise
            dynamic_noise = fresh_dynamic if dynamic_noise is None else dynamic_noise
        return self.synthesize(w_plus, static_noise, dynamic_noise, level=level, alpha=alpha)

    # ----------------------------------------------------------------------------------------------- video
    def generate_video(
        self,
        num_frames: int = 60,
        seed: int | None = 0,
        z: torch.Tensor | None = None,
        motion: object = "m01",
        speed: float = 1.0,
        style: object = None,
        truncation: float = 0.7,
        loop: bool = False,
        horizon: float = 0.5,
        batch_size: int = 8,
        generator: torch.Generator | None = None,
        progress: bool = False,
        **options: object,
    ) -> torch.Tensor:
        """A synthetic video, float (T, 3, H, W) in [-1, 1]: shared z_st and S_st, S_dyn warped by the motion.

        Delegates to `synthetic.generate_video` (this package), which documents every argument and the accepted
        ``motion`` / ``style`` types (``style=None`` is the official random z_dyn slerp; a style name sets z_dyn to
        its target). ``options``: ``mixing``, ``style_strength``, ``working_resolution``, ``clamp``, ``dtype``.
        """
        from .synthetic import generate_video

        return generate_video(
            self,
            num_frames=num_frames,
            seed=seed,
            z=z,
            motion=motion,
            speed=speed,
            style=style,
            truncation=truncation,
            loop=loop,
            horizon=horizon,
            batch_size=batch_size,
            generator=generator,
            progress=progress,
            **options,
        )
