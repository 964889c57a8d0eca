"""Perceptual losses: the paper's VGG19 loss for inversion fidelity, and an LPIPS adaptor.

`VGGPerceptualLoss` mirrors the official `inference/perceptual_loss.PerceptualLoss`: VGG19
features through relu5_1 with every max-pool replaced by an average pool, L1 at each of the 13 ReLU outputs, summed.
Pretrained weights come from torchvision's weights API and therefore from the torch hub cache; when they are absent
and cannot be downloaded we raise `PerceptualWeightsUnavailableError` saying which file to put where, and
`make_perceptual_loss("none")` is the explicit way to run without a perceptual term. A download is only tried after a
short reachability probe, so without network that error comes in seconds rather than after minutes of retries.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import torch
from torch import nn

from ..networks.hub import WeightsUnavailableError, network_reachable, offline_mode

__all__ = [
    "LPIPSLoss",
    "NoPerceptualLoss",
    "PerceptualKind",
    "PerceptualWeightsUnavailableError",
    "VGGPerceptualLoss",
    "lpips_distance",
    "make_perceptual_loss",
    "torch_hub_checkpoint_dir",
]

logger = logging.getLogger(__name__)

PerceptualKind = Literal["vgg", "lpips", "none"]

# VGG19 (configuration "E") up to relu5_1: conv widths, "pool" for the 2x2 pools. Index i of the resulting
# nn.Sequential equals index i of torchvision's `vgg19().features`, so its state_dict keys load unchanged.
VGG19_TO_RELU5_1 = (64, 64, "pool", 128, 128, "pool", 256, 256, 256, 256, "pool", 512, 512, 512, 512, "pool", 512)
NUM_VGG_RELUS = 13  # relu1_1 ... relu5_1 (official: features[:30])
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision weight files used here (name -> how torchvision's enum names it), for error messages.
_TORCHVISION_WEIGHTS = {
    "vgg19": ("VGG19_Weights", "IMAGENET1K_V1"),
    "vgg": ("VGG16_Weights", "IMAGENET1K_V1"),  # LPIPS 'vgg' trunk
    "alex": ("AlexNet_Weights", "IMAGENET1K_V1"),  # LPIPS 'alex' trunk
    "squeeze": ("SqueezeNet1_1_Weights", "IMAGENET1K_V1"),  # LPIPS 'squeeze' trunk
}


class PerceptualWeightsUnavailableError(WeightsUnavailableError):
    """Pretrained ImageNet weights for a perceptual network are not cached and cannot be downloaded; the message
    ends with the way around it (no perceptual loss)."""


# ----------------------------------------------------------------------------------------------------------------------
# Weights from the torch hub cache


def torch_hub_checkpoint_dir() -> Path:
    """Where torchvision caches weight files: `$TORCH_HOME/hub/checkpoints` (default `~/.cache/torch/hub/...`)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _load_torchvision_state_dict(
    network: str, *, allow_download: bool | None, purpose: str, none_hint: str
) -> dict[str, torch.Tensor]:
    """Load ImageNet weights through torchvision's weights enum (the hub cache), or explain how to get them."""
    import torchvision.models as tv_models

    enum_name, member = _TORCHVISION_WEIGHTS[network]
    weights = getattr(getattr(tv_models, enum_name), member)
    file_name = weights.url.rsplit("/", 1)[-1]
    cached = torch_hub_checkpoint_dir() / file_name
    if allow_download is None:
        allow_download = not offline_mode()  # HF_HUB_OFFLINE, the project's "no network" switch, covers torch hub too
    fetch = (
        f"Download {weights.url} into {cached.parent}/ (or set TORCH_HOME to a folder whose hub/checkpoints/ holds "
        f"{file_name})"
    )

    def unavailable(problem: str) -> PerceptualWeightsUnavailableError:
        return PerceptualWeightsUnavailableError(f"{problem} {fetch}, or {none_hint}.", cause=f"{problem} {fetch}.")

    if not cached.is_file() and not allow_download:
        raise unavailable(
            f"The ImageNet weights for the {purpose} ({file_name}) are not in the torch hub cache and downloading is "
            "off (offline mode)."
        )
    if not cached.is_file() and not network_reachable(weights.url):
        raise unavailable(
            f"The ImageNet weights for the {purpose} ({file_name}) are not in the torch hub cache and "
            f"{urlparse(weights.url).hostname} cannot be reached, so they cannot be downloaded."
        )
    try:
        return weights.get_state_dict(progress=True)  # what torchvision.models.<net>(weights=...) does internally
    except (OSError, RuntimeError, ValueError) as error:  # URLError is an OSError; a corrupt file is a RuntimeError
        state = "is in the cache but could not be read" if cached.is_file() else "could not be downloaded"
        raise unavailable(f"The ImageNet weights for the {purpose} ({file_name}) {state}: {error}.") from error


# ----------------------------------------------------------------------------------------------------------------------
# The paper's VGG19 loss


def _vgg19_features_to_relu5_1() -> nn.Sequential:
    """VGG19 `features[:30]` with every MaxPool replaced by AvgPool(2) (official perceptual_loss.py)."""
    layers: list[nn.Module] = []
    in_channels = 3
    for item in VGG19_TO_RELU5_1:
        if item == "pool":
            # Official: replaces nn.MaxPool2d with nn.AvgPool2d(2); smoother gradients for image optimisation.
            layers.append(nn.AvgPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1))
            layers.append(nn.ReLU(inplace=False))  # outputs are kept for the loss, so never modified in place
            in_channels = int(item)
    return nn.Sequential(*layers)


class VGGPerceptualLoss(nn.Module):
    """The paper's perceptual loss: sum over relu1_1..relu5_1 of the per-sample mean |phi(x) - phi(y)|.

    Inputs are images in [-1, 1], mapped to [0, 1] and ImageNet-normalised. The target is detached (as in the
    official code), so gradients reach only `input`. The network is frozen and stays in eval mode.

    Args:
        weights: "imagenet" (torchvision VGG19_Weights.IMAGENET1K_V1, from the torch hub cache) or None for a
            randomly initialised network: only for tests and debugging, and it logs a warning because the loss is
            then not perceptual at all.
        allow_download: try to download missing weights; default: yes unless HF_HUB_OFFLINE is set.
    """

    def __init__(self, weights: Literal["imagenet"] | None = "imagenet", allow_download: bool | None = None):
        super().__init__()
        self.features = _vgg19_features_to_relu5_1()
        if weights == "imagenet":
            state = _load_torchvision_state_dict(
                "vgg19",
                allow_download=allow_download,
                purpose="VGG19 perceptual loss",
                none_hint="run with `--perceptual none` (or make_perceptual_loss('none')) to optimise with L1 only",
            )
            prefix = "features."
            features_state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            self.features.load_state_dict(features_state, strict=False)
            missing = set(self.features.state_dict()) - set(features_state)
            if missing:
                raise PerceptualWeightsUnavailableError(f"The VGG19 weight file lacks {sorted(missing)}.")
        elif weights is None:
            logger.warning("VGGPerceptualLoss uses RANDOM weights (weights=None): fine for tests, useless for photos.")
        else:
            raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}.")
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGPerceptualLoss:
        """Always eval: a frozen feature extractor must not change behaviour when a parent module trains."""
        return super().train(False)

    @property
    def num_relus(self) -> int:
        return sum(isinstance(layer, nn.ReLU) for layer in self.features)

    def _normalise(self, images: torch.Tensor) -> torch.Tensor:
        unit = (images + 1.0) / 2.0  # [-1, 1] -> [0, 1]
        return (unit - self.mean.to(images.dtype)) / self.std.to(images.dtype)

    def relu_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The 13 ReLU outputs (relu1_1 ... relu5_1) for images (B, 3, H, W) in [-1, 1]."""
        outputs = []
        hidden = self._normalise(images)
        for layer in self.features:
            hidden = layer(hidden)
            if isinstance(layer, nn.ReLU):
                outputs.append(hidden)
        return outputs

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # noqa: A002 - torch loss naming
        """Per-sample loss (B,) between images (B, 3, H, W) in [-1, 1]."""
        if input.shape != target.shape or input.dim() != 4 or input.shape[1] != 3:
            raise ValueError(
                f"input and target must both be (B, 3, H, W); got {tuple(input.shape)} and {tuple(target.shape)}."
            )
        with torch.no_grad():
            target_features = self.relu_features(target.detach())
        loss = input.new_zeros(input.shape[0])
        for feature, target_feature in zip(self.relu_features(input), target_features, strict=True):
            loss = loss + (feature - target_feature).abs().mean(dim=(1, 2, 3))  # unweighted sum over layers
        return loss


# ----------------------------------------------------------------------------------------------------------------------
# LPIPS


_LPIPS_MISSING = "LPIPS needs the `lpips` package: pip install lpips (or pip install 'deeplandscape-hf[metrics]')."


def _lpips_package_dir() -> Path:
    """Folder of the installed `lpips` package, found without importing it (the import takes seconds)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or spec.origin is None:
        raise ImportError(_LPIPS_MISSING)
    return Path(spec.origin).parent


class LPIPSLoss(nn.Module):
    """LPIPS distance (Zhang et al. 2018) through the `lpips` package, for images in [-1, 1]; returns (B,).

    Two sets of weights are involved. The learned linear heads (`weights/v0.1/{net}.pth`) ship inside the `lpips`
    package, so they are always there. The ImageNet trunk (VGG16 / AlexNet / SqueezeNet) comes from torchvision,
    i.e. the torch hub cache; we load it ourselves through torchvision's weights enum instead of letting `lpips`
    call the deprecated `pretrained=True`, so a missing file gives `PerceptualWeightsUnavailableError`.
    The default trunk is VGG, matching the official metric (`lpips_models/vgg.pth`); `lpips` itself defaults to alex.

    Args:
        net: "vgg", "alex" or "squeeze".
        backbone_weights: "imagenet", or None for a random trunk (tests only; logged as a warning).
        allow_download: try to download a missing trunk; default: yes unless HF_HUB_OFFLINE is set.
    """

    def __init__(
        self,
        net: Literal["vgg", "alex", "squeeze"] = "vgg",
        backbone_weights: Literal["imagenet"] | None = "imagenet",
        allow_download: bool | None = None,
    ):
        super().__init__()
        if net not in ("vgg", "alex", "squeeze"):
            raise ValueError(f"net must be 'vgg', 'alex' or 'squeeze', got {net!r}.")
        heads = _lpips_package_dir() / "weights" / "v0.1" / f"{net}.pth"
        if not heads.is_file():
            raise PerceptualWeightsUnavailableError(
                f"The LPIPS linear weights {heads} are missing from the installed `lpips` package; reinstall it "
                "(pip install --force-reinstall lpips)."
            )
        # Trunk weights first: a missing file should fail fast, before the (slow) network construction.
        trunk_state: dict[str, torch.Tensor] | None = None
        if backbone_weights == "imagenet":
            trunk_state = _load_torchvision_state_dict(
                net,
                allow_download=allow_download,
                purpose=f"LPIPS {net} trunk",
                none_hint="pick another perceptual loss (`--perceptual vgg` or `--perceptual none`) or skip LPIPS",
            )
        elif backbone_weights is None:
            logger.warning("LPIPSLoss uses a RANDOM %s trunk (backbone_weights=None): fine for tests only.", net)
        else:
            raise ValueError(f"backbone_weights must be 'imagenet' or None, got {backbone_weights!r}.")
        import lpips

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torchvision's `pretrained=` deprecation inside lpips
            self.model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False, model_path=str(heads))
        if trunk_state is not None:
            # lpips splits torchvision's `features` into slices whose children keep the original indices.
            trunk = {}
            for key in self.model.net.state_dict():
                _slice, index_and_param = key.split(".", 1)
                trunk[key] = trunk_state[f"features.{index_and_param}"]
            self.model.net.load_state_dict(trunk, strict=True)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> LPIPSLoss:
        """Always eval (no dropout in the heads), whatever a parent module does."""
        return super().train(False)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # noqa: A002 - torch loss naming
        """LPIPS per sample (B,) for images (B, 3, H, W) in [-1, 1]."""
        if input.shape != target.shape or input.dim() != 4 or input.shape[1] != 3:
            raise ValueError(
                f"input and target must both be (B, 3, H, W); got {tuple(input.shape)} and {tuple(target.shape)}."
            )
        return self.model(input, target, normalize=False).view(input.shape[0])


_LPIPS_CACHE: dict[tuple[str, str], LPIPSLoss] = {}


def lpips_distance(x: torch.Tensor, y: torch.Tensor, net: Literal["vgg", "alex", "squeeze"] = "vgg") -> torch.Tensor:
    """LPIPS (B,) between image batches in [-1, 1]; the network is built once per (net, device) and reused."""
    key = (net, str(x.device))
    if key not in _LPIPS_CACHE:
        _LPIPS_CACHE[key] = LPIPSLoss(net=net).to(x.device)
    return _LPIPS_CACHE[key](x, y)


# ----------------------------------------------------------------------------------------------------------------------
# Factory


class NoPerceptualLoss(nn.Module):
    """The explicit "no perceptual term" choice: returns zeros (B,), so callers keep one code path."""

    def __init__(self) -> None:
        super().__init__()
        warnings.warn(
            "No perceptual loss: inversion will use L1 only, so reconstructions come out blurrier than the paper's.",
            UserWarning,
            stacklevel=3,
        )

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # noqa: A002 - torch loss naming
        return input.new_zeros(input.shape[0])


def make_perceptual_loss(kind: PerceptualKind = "vgg", **kwargs: object) -> nn.Module:
    """Build the perceptual loss named `kind`: "vgg" (paper), "lpips", or "none" (zeros, with a warning).

    Extra keyword arguments go to `VGGPerceptualLoss` / `LPIPSLoss` (e.g. `weights=None` in tests). Every module
    maps (input, target) images in [-1, 1] to a per-sample loss (B,).
    """
    if kind == "vgg":
        return VGGPerceptualLoss(**kwargs)  # type: ignore[arg-type]
    if kind == "lpips":
        return LPIPSLoss(**kwargs)  # type: ignore[arg-type]
    if kind == "none":
        if kwargs:
            raise ValueError(f"The 'none' perceptual loss takes no options, got {sorted(kwargs)}.")
        return NoPerceptualLoss()
    raise ValueError(f"Unknown perceptual loss {kind!r}; choose 'vgg', 'lpips' or 'none'.")
