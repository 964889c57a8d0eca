"""deeplandscape-hf: DeepLandscape (Logacheva et al., ECCV 2020), Hugging Face native."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public names load lazily so that `import deeplandscape_hf` stays cheap (the CLI imports torchvision/transformers
# only for the commands that need them).
_PUBLIC = {
    "DeepLandscapeGenerator": "generator",
    "GeneratorConfig": "generator",
    "ImageDiscriminator": "discriminator",
    "PairwiseDiscriminator": "discriminator",
    "DiscriminatorConfig": "discriminator",
    "DeepLandscapeEncoder": "encoder",
    "EncoderConfig": "encoder",
    "StyleDynamicsNet": "dynamics",
    "DynamicsConfig": "dynamics",
    "DeepLandscapePipeline": "pipeline",
    "DeepLandscapePipelineOutput": "pipeline",
}

__all__ = ["__version__", *_PUBLIC]

if TYPE_CHECKING:
    from .discriminator import DiscriminatorConfig, ImageDiscriminator, PairwiseDiscriminator
    from .dynamics import DynamicsConfig, StyleDynamicsNet
    from .encoder import DeepLandscapeEncoder, EncoderConfig
    from .generator import DeepLandscapeGenerator, GeneratorConfig
    from .pipeline import DeepLandscapePipeline, DeepLandscapePipelineOutput


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module 'deeplandscape_hf' has no attribute '{name}'")
