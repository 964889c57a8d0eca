"""Encoder E: a real photo -> W+ (one style vector per AdaIN), the starting point of inversion (paper section 3.3).

Mirrors the authors' ``inference/encoders.py`` (``ResNetEncoder``): ImageNet-renormalised input, a torchvision ResNet
trunk, global-average-pooled layer1 + layer3 + layer4 features, and an MLP head that emits one w per generator level,
copied to both AdaINs of that level. E predicts neither noise maps nor z.

Official -> ours, for the converter: ``backbone.fc.{0,1,3}.*`` -> ``head.{0,1,3}.*``; every other ``backbone.*`` key is
the same (the ResNet's own 1000-way ``fc`` is removed here, it was replaced by the head there).
"""

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from .hub import HUB_METADATA, HubModelMixin, network_reachable
from .layers import check_shape

logger = logging.getLogger(__name__)

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
# Trunk by generator resolution: the authors' ResNet-152 from 256 px up; a small generator's few pixels and few style
# levels do not need 60 M trunk weights, and its whole model must stay small enough to bundle and push to the Hub.
_BACKBONE_BY_RESOLUTION = ((256, "resnet152"), (128, "resnet34"), (0, "resnet18"))
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # official ImageNetRenormalize.MEAN
IMAGENET_STD = (0.229, 0.224, 0.225)  # official ImageNetRenormalize.STD
HEAD_LRELU_SLOPE = 0.2  # official fc: Linear -> LayerNorm -> LeakyReLU(0.2) -> Linear
MIN_INPUT_SIZE = 32  # the trunk downsamples 32x: smaller inputs leave layer4 with no pixels
ADAINS_PER_LEVEL = 2


def default_backbone(resolution: int) -> str:
    """The encoder trunk for a generator of ``resolution`` px: resnet152 from 256 px, resnet34 at 128, else resnet18."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be a positive int, got {resolution!r}.")
    return next(name for minimum, name in _BACKBONE_BY_RESOLUTION if resolution >= minimum)


class BackboneWeightsUnavailableError(FileNotFoundError):
    """Raised when the ImageNet weights for the ResNet trunk are neither cached nor downloadable."""


@dataclass
class EncoderConfig:
    """Shape of the encoder and where its trunk starts from.

    ``num_ws = 2 * num_levels`` style vectors come out, in the generator's W+ order (level 0's two AdaINs first).
    """

    backbone: str = "resnet152"  # torchvision ResNet trunk; official: resnet152. default_backbone() picks by resolution
    num_levels: int = 7  # generator levels 4 px .. resolution: 7 for the 256 px model, 8 for 512 px (official)
    per_level: bool = True  # one w per level, copied to both of its AdaINs (official); False: one w per AdaIN
    w_dim: int = 512  # style vector size (official code_dim)
    hidden: int = 2048  # width of the head's bottleneck (official w_bottleneck_size)
    pretrained_backbone: bool = True  # load torchvision's ImageNet weights into the trunk when constructed
    image_size: int = 256  # px of the square E is fed; the authors' animation feeds the crop at G's resolution

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {self.backbone!r}.")
        for name in ("num_levels", "w_dim", "hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if not isinstance(self.image_size, int) or self.image_size < MIN_INPUT_SIZE:
            raise ValueError(f"image_size must be an int >= {MIN_INPUT_SIZE}, got {self.image_size!r}.")
        for name in ("per_level", "pretrained_backbone"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}.")

    @property
    def num_ws(self) -> int:
        """Style vectors in the output W+: one per AdaIN, two per level."""
        return ADAINS_PER_LEVEL * self.num_levels

    @property
    def num_predicted(self) -> int:
        """Distinct vectors the head predicts: one per level, or one per AdaIN."""
        return self.num_levels if self.per_level else self.num_ws


def _imagenet_state_dict(name: str) -> dict[str, torch.Tensor]:
    """torchvision's IMAGENET1K_V1 weights for ``name`` (official ``pretrained=True``), from the torch hub cache."""
    weights = torchvision.models.get_model_weights(name).IMAGENET1K_V1
    filename = os.path.basename(urlparse(weights.url).path)
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    try:
        if not (cache / filename).is_file() and not network_reachable(weights.url):  # fail in seconds, not minutes
            raise ConnectionError(f"{urlparse(weights.url).hostname} cannot be reached")
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as error:  # no network, no cache, truncated file: the user's remedy is the same
        raise BackboneWeightsUnavailableError(
            f"ImageNet weights for the {name} encoder trunk ({filename}) are not in the torch hub cache "
            f"({cache}) and could not be downloaded from {weights.url} ({type(error).__name__}: {error}). "
            f"Put {filename} in {cache} (or point TORCH_HOME at a cache that has it), or build the encoder with "
            "EncoderConfig(pretrained_backbone=False) to start from random weights. "
            "DeepLandscapeEncoder.from_pretrained() never needs them."
        ) from error


def _build_backbone(name: str, pretrained: bool) -> torchvision.models.ResNet:
    backbone = getattr(torchvision.models, name)(weights=None)
    if pretrained:
        logger.info("Loading ImageNet weights into the %s encoder trunk.", name)
        backbone.load_state_dict(_imagenet_state_dict(name))
    backbone.fc = nn.Identity()  # ImageNet classifier unused: the head reads pooled layer1/3/4 features
    return backbone


def _out_channels(layer: nn.Sequential) -> int:
    """Output width of a ResNet stage: bottleneck blocks end in bn3, basic blocks in bn2."""
    last = layer[-1]
    norm = last.bn3 if hasattr(last, "bn3") else last.bn2
    return norm.num_features


class DeepLandscapeEncoder(nn.Module, HubModelMixin, **HUB_METADATA):
    """ResNet encoder: photo -> W+ initialisation for latent optimisation.

    Args:
        config: ``EncoderConfig``; default ``EncoderConfig()``, the paper's ResNet-152. With
            ``pretrained_backbone=True`` the trunk starts from ImageNet weights read through torchvision's cache
            (``BackboneWeightsUnavailableError`` if absent and offline); ``from_pretrained`` never fetches them since
            the checkpoint holds every weight.
    """

    def __init__(self, config: EncoderConfig | None = None):
        super().__init__()
        self.config = config = config or EncoderConfig()
        self.backbone = _build_backbone(config.backbone, config.pretrained_backbone)
        stages = (self.backbone.layer1, self.backbone.layer3, self.backbone.layer4)
        feature_dim = sum(_out_channels(stage) for stage in stages)
        self.head = nn.Sequential(
            nn.Linear(feature_dim, config.hidden),
            nn.LayerNorm(config.hidden),
            nn.LeakyReLU(HEAD_LRELU_SLOPE),
            nn.Linear(config.hidden, config.w_dim * config.num_predicted),
        )
        # Constants, not weights: kept out of the checkpoint.
        self.register_buffer("imagenet_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("imagenet_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def _build_for_loading(cls, config: EncoderConfig, **kwargs):
        # The checkpoint overwrites every trunk weight, so fetching ImageNet weights first would only cost time (and
        # fail offline). The model keeps the saved config, so saving it again writes the same config.json.
        model = cls(replace(config, pretrained_backbone=False), **kwargs)
        model.config = config
        model._hub_mixin_config = config
        return model

    @property
    def feature_dim(self) -> int:
        """Width of the concatenated pooled layer1 + layer3 + layer4 features (3328 for resnet50/101/152)."""
        return self.head[0].in_features

    def _normalize(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] -> [0, 1] -> ImageNet mean/std, in the authors' order of operations."""
        images01 = (images + 1) / 2
        return (images01 - self.imagenet_mean.to(images.dtype)) / self.imagenet_std.to(images.dtype)

    def _pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """ResNet trunk; global-average-pooled layer1, layer3 and layer4 outputs, concatenated (B, feature_dim)."""
        trunk = self.backbone
        x = trunk.maxpool(trunk.relu(trunk.bn1(trunk.conv1(x))))
        x = trunk.layer1(x)
        pooled1 = F.adaptive_avg_pool2d(x, 1).flatten(1)  # the authors' AdaptiveAvgPool2d(1), same reduction
        x = trunk.layer3(trunk.layer2(x))
        pooled3 = F.adaptive_avg_pool2d(x, 1).flatten(1)
        pooled4 = F.adaptive_avg_pool2d(trunk.layer4(x), 1).flatten(1)
        return torch.cat([pooled1, pooled3, pooled4], dim=1)

    def forward(self, images: torch.Tensor, resize: bool = False) -> torch.Tensor:
        """Predict W+ for photos.

        Args:
            images: float (B, 3, H, W) in [-1, 1], H and W >= 32. The authors feed the crop at generator resolution.
            resize: first resize (bicubic, antialiased) to ``config.image_size``, the size E was trained on.

        Returns:
            w_plus: (B, num_ws, w_dim), entry ``2 * level + j`` feeding AdaIN ``j`` of ``level``.
        """
        check_shape(images, (None, 3, None, None), "images")
        if min(images.shape[-2:]) < MIN_INPUT_SIZE:
            raise ValueError(f"images must be at least {MIN_INPUT_SIZE} px high and wide, got {tuple(images.shape)}.")
        size = self.config.image_size
        if resize and tuple(images.shape[-2:]) != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
        features = self._pooled_features(self._normalize(images))
        w = self.head(features).view(images.shape[0], self.config.num_predicted, self.config.w_dim)
        if self.config.per_level:
            w = w.repeat_interleave(ADAINS_PER_LEVEL, dim=1)  # (B, num_ws, w_dim): both AdaINs of a level share w
        return w

    @torch.no_grad()
    def set_output_bias(self, w_avg: torch.Tensor) -> None:
        """Set the head's last bias to the mean style, so an untrained encoder's output is centred on it.

        Args:
            w_avg: (w_dim,) or (1, w_dim), e.g. the generator's mean w over many z.
        """
        if not isinstance(w_avg, torch.Tensor) or w_avg.shape not in ((self.config.w_dim,), (1, self.config.w_dim)):
            shape = tuple(w_avg.shape) if isinstance(w_avg, torch.Tensor) else type(w_avg).__name__
            raise ValueError(f"w_avg must have shape ({self.config.w_dim},) or (1, {self.config.w_dim}), got {shape}.")
        bias = self.head[-1].bias
        bias.copy_(w_avg.reshape(-1).to(bias).repeat(self.config.num_predicted))
