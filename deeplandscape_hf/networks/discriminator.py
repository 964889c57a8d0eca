"""Image and pairwise discriminators of DeepLandscape (paper section 3.2; supplement "Pairwise Discriminator").

Progressive StyleGAN-1 discriminators mirroring the authors' ``model.py`` (``Discriminator``, ``NFramesDiscriminator``).
Both share one body; the pairwise one differs only in its 1x1 from-RGB convs, which have half the channels and run on
each frame with shared weights before the two feature maps are concatenated along channels (frame 0 first).

Official -> ours, for the converter (official index ``k = 8 - level``; Blur buffers are not stored here)::

    from_rgb.{k}.conv.weight_orig / .bias            -> from_rgb.{level}.weight / .bias
    progression.{k}.conv1.0.conv.weight_orig / .bias  -> blocks.{level}.conv1.weight / .bias
    progression.{k}.conv2.1.weight / .bias  (fused)   -> blocks.{level}.conv2.weight / .bias
    progression.{k}.conv2.1.conv.weight_orig / .bias  -> blocks.{level}.conv2.weight / .bias   (not fused)
    progression.8.conv2.0.conv.weight_orig / .bias    -> blocks.0.conv2.weight / .bias          (4x4 conv)
    linear.linear.weight_orig / .bias                 -> blocks.0.linear.weight / .bias

The authors always build all 9 levels (up to 1024 px); we build only those up to ``config.resolution``, so the
converter drops ``k < 8 - max_level`` (never trained).
"""

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .hub import HUB_METADATA, HubModelMixin
from .layers import Blur, EqualConv2d, EqualLinear, FusedDownsample, MinibatchStdDev, check_shape

# Official model.py Discriminator from_rgb widths (= constants.NFD_CHANNELS[:9]), listed from 1024 px down to 4 px.
# Our table is indexed by level (0 = 4 px), so it is the reverse.
OFFICIAL_CHANNELS_FROM_1024PX = (16, 32, 64, 128, 256, 512, 512, 512, 512)
LRELU_SLOPE = 0.2  # official: nn.LeakyReLU(0.2) everywhere in D


def _official_channels() -> list[int]:
    return list(reversed(OFFICIAL_CHANNELS_FROM_1024PX))


@dataclass
class DiscriminatorConfig:
    """Shape of a progressive discriminator.

    ``channels[level]`` is the width of the features at ``4 * 2**level`` px: the total from-RGB output there (summed
    over frames) and the input width of that level's block, which maps it to ``channels[level - 1]`` while halving
    the resolution. The 4 px block keeps ``channels[0]`` and ends in the linear output layer.
    """

    resolution: int = 256  # highest input size in px (power of two >= 4); levels 0 .. log2(resolution) - 2 are built
    channels: list[int] = field(default_factory=_official_channels)  # per level, level 0 (4 px) first; official table
    fused_from_resolution: int = 128  # blocks whose input has >= this many px downsample by a fused strided conv
    frames: int = 1  # frames per sample: 1 for ImageDiscriminator, 2 for PairwiseDiscriminator (paper)

    def __post_init__(self) -> None:
        if isinstance(self.channels, tuple):
            self.channels = list(self.channels)  # JSON round trips give lists; keep one type
        if not isinstance(self.resolution, int) or self.resolution < 4 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {self.resolution!r}.")
        if not isinstance(self.frames, int) or self.frames < 1:
            raise ValueError(f"frames must be a positive int, got {self.frames!r}.")
        if not isinstance(self.fused_from_resolution, int) or self.fused_from_resolution < 1:
            raise ValueError(f"fused_from_resolution must be a positive int, got {self.fused_from_resolution!r}.")
        if not isinstance(self.channels, list) or len(self.channels) < self.num_levels:
            raise ValueError(
                f"channels must list at least {self.num_levels} widths (levels 0..{self.max_level} for "
                f"{self.resolution} px), got {self.channels!r}."
            )
        used = self.channels[: self.num_levels]
        if any(not isinstance(c, int) or c < 1 for c in used):
            raise ValueError(f"channels must be positive ints, got {self.channels!r}.")
        if any(c % self.frames for c in used):
            raise ValueError(
                f"every used entry of channels must be divisible by frames={self.frames} (each frame gets "
                f"channels // frames from-RGB features), got {used!r}."
            )

    @property
    def max_level(self) -> int:
        """Level of the full-resolution input: log2(resolution) - 2."""
        return int(math.log2(self.resolution)) - 2

    @property
    def num_levels(self) -> int:
        return self.max_level + 1


class _DownBlock(nn.Module):
    """conv 3x3 + LReLU, then Blur and a 2x-downsampling conv + LReLU (official ``ConvBlock(downsample=True)``).

    Fused blocks downsample with one stride-2 conv whose 4x4 kernel is the box-filtered 3x3 weight; the others run a
    3x3 conv then 2x2 average pooling. Both orders are the authors' and must stay so for converted weights.
    """

    def __init__(self, in_channels: int, out_channels: int, fused: bool):
        super().__init__()
        self.fused = fused
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, padding=1)
        self.blur = Blur(out_channels)
        if fused:
            self.conv2: nn.Module = FusedDownsample(out_channels, out_channels)
        else:
            self.conv2 = EqualConv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv1(x), LRELU_SLOPE)
        x = self.conv2(self.blur(x))
        if not self.fused:
            x = F.avg_pool2d(x, 2)
        return F.leaky_relu(x, LRELU_SLOPE)


class _OutputBlock(nn.Module):
    """4 px block: minibatch-std channel, conv 3x3 (C+1 -> C), conv 4x4 valid (-> 1x1), linear C -> 1 logit."""

    def __init__(self, channels: int):
        super().__init__()
        self.stddev = MinibatchStdDev()
        self.conv1 = EqualConv2d(channels + 1, channels, 3, padding=1)
        self.conv2 = EqualConv2d(channels, channels, 4, padding=0)
        self.linear = EqualLinear(channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stddev(x)  # (B, C+1, 4, 4): one scalar std over the whole batch, broadcast
        x = F.leaky_relu(self.conv1(x), LRELU_SLOPE)
        x = F.leaky_relu(self.conv2(x), LRELU_SLOPE)  # (B, C, 1, 1)
        return self.linear(x.flatten(1))


class _ProgressiveDiscriminator(nn.Module):
    """Body shared by both discriminators. Works on frames (B, F, 3, H, W); single images are F = 1.

    Every level has a from-RGB conv (entry point while training at that resolution) and a block; ``blocks[0]`` is the
    4 px output block. Entering at ``level`` runs ``blocks[level], ..., blocks[0]``.
    """

    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        self.config = config
        channels = config.channels
        self.from_rgb = nn.ModuleList(
            # official from_rgb_activate=False: no activation after from-RGB
            EqualConv2d(3, channels[level] // config.frames, 1)
            for level in range(config.num_levels)
        )
        blocks: list[nn.Module] = [_OutputBlock(channels[0])]
        for level in range(1, config.num_levels):
            fused = 4 * 2**level >= config.fused_from_resolution
            blocks.append(_DownBlock(channels[level], channels[level - 1], fused))
        self.blocks = nn.ModuleList(blocks)

    def _resolve_level(self, level: int | None, alpha: float, size: tuple[int, int]) -> int:
        """Default and validate the entry level, the fade-in weight and the input size they imply."""
        if level is None:
            level = self.config.max_level
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= self.config.max_level:
            raise ValueError(f"level must be an int in [0, {self.config.max_level}], got {level!r}.")
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}.")
        expected = 4 * 2**level
        if tuple(size) != (expected, expected):
            raise ValueError(
                f"level {level} takes {expected}x{expected} px inputs, got {size[0]}x{size[1]}. "
                f"Resize the input or pass the level that matches it (level = log2(size) - 2)."
            )
        return level

    def _frames_to_features(self, frames: torch.Tensor, level: int) -> torch.Tensor:
        """(B, F, 3, H, W) -> (B, F * c, H, W): the level's shared from-RGB on every frame, frame 0's channels first."""
        batch, num_frames = frames.shape[:2]
        features = self.from_rgb[level](frames.flatten(0, 1))  # (B*F, c, H, W)
        return features.reshape(batch, num_frames * features.shape[1], *features.shape[2:])

    def _discriminate(self, frames: torch.Tensor, level: int, alpha: float) -> torch.Tensor:
        """Logits (B, 1) for frames (B, F, 3, H, W) at the resolution of ``level``."""
        features = self._frames_to_features(frames, level)
        for current in range(level, 0, -1):
            features = self.blocks[current](features)
            if current == level and alpha < 1.0:
                # Fade-in of a new resolution: blend with the previous level's entry on the 2x average-pooled input.
                pooled = F.avg_pool2d(frames.flatten(0, 1), 2).unflatten(0, frames.shape[:2])
                skip = self._frames_to_features(pooled, level - 1)
                features = (1 - alpha) * skip + alpha * features
        # Official: at level 0 there is no smaller entry, so alpha is ignored there.
        return self.blocks[0](features)


class ImageDiscriminator(_ProgressiveDiscriminator, HubModelMixin, **HUB_METADATA):
    """StyleGAN-1 image discriminator: real or generated stills -> one logit each.

    Args:
        config: ``DiscriminatorConfig`` with ``frames=1``; default ``DiscriminatorConfig()``.
    """

    def __init__(self, config: DiscriminatorConfig | None = None):
        config = config or DiscriminatorConfig()
        if config.frames != 1:
            raise ValueError(
                f"ImageDiscriminator sees single images, so config.frames must be 1, got {config.frames}. "
                "Use PairwiseDiscriminator for frame pairs."
            )
        super().__init__(config)

    def forward(self, images: torch.Tensor, level: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        """Score images.

        Args:
            images: float (B, 3, H, W) in [-1, 1], H = W = 4 * 2**level.
            level: entry level (log2(H) - 2); defaults to the highest built level.
            alpha: fade-in weight of the newest block in [0, 1]; 1 is the plain network.

        Returns:
            logits (B, 1); higher means "real".
        """
        check_shape(images, (None, 3, None, None), "images")
        level = self._resolve_level(level, alpha, images.shape[-2:])
        return self._discriminate(images.unsqueeze(1), level, float(alpha))


class PairwiseDiscriminator(_ProgressiveDiscriminator, HubModelMixin, **HUB_METADATA):
    """Pairwise (temporal) discriminator: two frames of one video -> one logit.

    Same body as ``ImageDiscriminator``; its from-RGB convs have ``channels[level] // frames`` outputs, are applied to
    every frame with shared weights, and the results are concatenated along channels (frame 0 first), so the order
    of the frames matters to the network although the training data presents them in random order.

    Args:
        config: ``DiscriminatorConfig`` with ``frames >= 2``; default ``DiscriminatorConfig(frames=2)``, the paper's.
    """

    def __init__(self, config: DiscriminatorConfig | None = None):
        config = config or DiscriminatorConfig(frames=2)
        if config.frames < 2:
            raise ValueError(
                f"PairwiseDiscriminator compares frames, so config.frames must be >= 2 (the paper uses 2), got "
                f"{config.frames}: build it with DiscriminatorConfig(frames=2)."
            )
        super().__init__(config)

    def forward(self, pairs: torch.Tensor, level: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        """Score frame pairs.

        Args:
            pairs: float (B, F, 3, H, W) in [-1, 1] with F = config.frames, H = W = 4 * 2**level.
            level: entry level (log2(H) - 2); defaults to the highest built level.
            alpha: fade-in weight of the newest block in [0, 1]; 1 is the plain network.

        Returns:
            logits (B, 1); higher means "a real pair of frames from one video".
        """
        check_shape(pairs, (None, self.config.frames, 3, None, None), "pairs")
        level = self._resolve_level(level, alpha, pairs.shape[-2:])
        return self._discriminate(pairs, level, float(alpha))
