"""deeplandscape-hf: DeepLandscape (Logacheva et al., ECCV 2020), Hugging Face native."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public names load lazily so that `import deeplandscape_hf` stays cheap (the CLI imports torchvision/transformers
# only for the commands that need them).
_PUBLIC = {
    "DeepLandscapeGenerator": "networks.generator",
    "GeneratorConfig": "networks.generator",
    "ImageDiscriminator": "networks.discriminator",
    "PairwiseDiscriminator": "networks.discriminator",
    "DiscriminatorConfig": "networks.discriminator",
    "DeepLandscapeEncoder": "networks.encoder",
    "EncoderConfig": "networks.encoder",
    "StyleDynamicsNet": "networks.dynamics",
    "DynamicsConfig": "networks.dynamics",
    "DeepLandscapePipeline": "animation.pipeline",
    "DeepLandscapePipelineOutput": "animation.pipeline",
}

__all__ = ["__version__", *_PUBLIC]

if TYPE_CHECKING:
    from .animation.pipeline import DeepLandscapePipeline, DeepLandscapePipelineOutput
    from .networks.discriminator import DiscriminatorConfig, ImageDiscriminator, PairwiseDiscriminator
    from .networks.dynamics import DynamicsConfig, StyleDynamicsNet
    from .networks.encoder import DeepLandscapeEncoder, EncoderConfig
    from .networks.generator import DeepLandscapeGenerator, GeneratorConfig


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module 'deeplandscape_hf' has no attribute '{name}'")
