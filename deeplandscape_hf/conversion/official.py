"""Convert the authors' released weights (advimman/deep-landscape) into a hub-ready deeplandscape-hf folder.

Inputs: the generator checkpoint ``<iteration>.model`` (a ``torch.save``
dict of state dicts + ints; its EMA generator ``g_running`` is exported), and optionally the encoder and network-A
``best_model.pth`` files, which are pickled whole modules: `checkpoint_file` reads all of them without running
anything in them.

`KEY_TABLE` is the one map from official state-dict names to ours. Two kinds of official tensors are not carried
over, and both are checked rather than silently skipped: the Blur buffers (each must equal the fixed
[1,2,1]x[1,2,1]/16 kernel our layers hard-code) and the blocks above the model resolution (the authors always build
all 9 levels up to 1024 px; those above 256 / 512 px were never trained; they are counted in the model card).
Output layout::

    OUT/config.json, model.safetensors, README.md   generator (model card names the source checkpoint)
    OUT/discriminators/image/, discriminators/pairwise/
    OUT/encoder/, OUT/dynamics/                     when given
    OUT/pipeline.json                               {"resolution": R, "style_strength": 0.7 (256 px) | 0.3 (512 px),
                                                     "styles": the authors' style vocabulary (their z_dyn targets)}

Everything is written to a hidden temporary folder next to OUT and renamed into place, so a failure leaves nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..motion.styles import StyleVocabulary
from ..networks.discriminator import DiscriminatorConfig, ImageDiscriminator, PairwiseDiscriminator
from ..networks.generator import SUPPORTED_RESOLUTIONS, DeepLandscapeGenerator, GeneratorConfig
from ..networks.hub import give_default_permissions, load_state_dict_strict
from .checkpoint_file import (
    OfficialCheckpointError,
    PickledObject,
    UnsafeCheckpointError,
    load_official_file,
    module_state_dict,
)

logger = logging.getLogger(__name__)

__all__ = [
    "KEY_TABLE",
    "ConversionReport",
    "OfficialCheckpointError",
    "PickledObject",
    "UnsafeCheckpointError",
    "convert_discriminator_state_dict",
    "convert_dynamics_state_dict",
    "convert_encoder_state_dict",
    "convert_generator_state_dict",
    "convert_official_checkpoint",
    "load_official_file",
    "module_state_dict",
]

STYLE_STRENGTH = {256: 0.7, 512: 0.3}  # official configs/inference/{256,512}/style_*.yaml: 4th value of the style z
DEFAULT_STYLE_STRENGTH = 0.7
W_AVG_SAMPLES = 100 * 1024  # official utils.get_mean_style: mean of M(z) over 100 batches of 1024 z
W_AVG_SEED = 0
BLUR_TAPS = (1.0, 2.0, 1.0)  # official Blur: [1, 2, 1] x [1, 2, 1] / 16 (ours is fixed, so theirs is checked)
BLUR_ATOL = 1e-6
SOURCE_URL = "https://github.com/advimman/deep-landscape"
OFFICIAL_COPYRIGHT = "Copyright (c) 2020 Samsung (MIT License)"
# ResNet trunks by (blocks per stage, bottleneck?), to rebuild the authors' encoder (official: resnet152).
RESNET_LAYOUTS = {
    ((2, 2, 2, 2), False): "resnet18",
    ((3, 4, 6, 3), False): "resnet34",
    ((3, 4, 6, 3), True): "resnet50",
    ((3, 4, 23, 3), True): "resnet101",
    ((3, 8, 36, 3), True): "resnet152",
}


# The key table
# =====================================================================================================================
VERIFIED_BLUR = "<blur kernel: checked equal to ours, then dropped>"

# Official -> ours. Placeholders: {i} generator level (= official block index), {k} official D index (our level =
# 8 - k), {m} mapping-net layer index (same in both), {j} AdaIN 1 or 2, {rest} any suffix. First match wins.
KEY_TABLE: dict[str, tuple[tuple[str, str], ...]] = {
    "generator": (
        ("style.{m}.linear.weight_orig", "mapping.net.{m}.weight"),
        ("style.{m}.linear.bias", "mapping.net.{m}.bias"),
        ("generator.progression.{i}.conv1.input", "blocks.{i}.conv1.input"),
        # nearest-upsample blocks: official conv1 = (Upsample, EqualConv2d, Blur); ours (NearestUpsampleConv2d, Blur)
        # keeps the conv's (out, in, 3, 3) layout
        ("generator.progression.{i}.conv1.1.conv.weight_orig", "blocks.{i}.conv1.0.weight"),
        ("generator.progression.{i}.conv1.1.conv.bias", "blocks.{i}.conv1.0.bias"),
        ("generator.progression.{i}.conv1.2.weight", VERIFIED_BLUR),
        ("generator.progression.{i}.conv1.2.weight_flip", VERIFIED_BLUR),
        # fused blocks: conv1 = (FusedUpsample, Blur); same (in, out, 3, 3) transposed layout, not equal-lr-wrapped
        ("generator.progression.{i}.conv1.0.weight", "blocks.{i}.conv1.0.weight"),
        ("generator.progression.{i}.conv1.0.bias", "blocks.{i}.conv1.0.bias"),
        ("generator.progression.{i}.conv1.1.weight", VERIFIED_BLUR),
        ("generator.progression.{i}.conv1.1.weight_flip", VERIFIED_BLUR),
        # noise1/noise2 get S_st, noise12/noise22 get S_dyn (single-noise ablation: noise1/2 get S_dyn, see below)
        ("generator.progression.{i}.noise1.weight_orig", "blocks.{i}.static_noise1.weight"),
        ("generator.progression.{i}.noise12.weight_orig", "blocks.{i}.dynamic_noise1.weight"),
        ("generator.progression.{i}.noise2.weight_orig", "blocks.{i}.static_noise2.weight"),
        ("generator.progression.{i}.noise22.weight_orig", "blocks.{i}.dynamic_noise2.weight"),
        ("generator.progression.{i}.adain{j}.style.linear.weight_orig", "blocks.{i}.adain{j}.style.weight"),
        ("generator.progression.{i}.adain{j}.style.linear.bias", "blocks.{i}.adain{j}.style.bias"),
        ("generator.progression.{i}.conv2.conv.weight_orig", "blocks.{i}.conv2.weight"),
        ("generator.progression.{i}.conv2.conv.bias", "blocks.{i}.conv2.bias"),
        ("generator.to_rgb.{i}.conv.weight_orig", "to_rgb.{i}.weight"),
        ("generator.to_rgb.{i}.conv.bias", "to_rgb.{i}.bias"),
    ),
    "discriminator": (  # image D and pairwise D share every name
        ("from_rgb.{k}.conv.weight_orig", "from_rgb.{level}.weight"),
        ("from_rgb.{k}.conv.bias", "from_rgb.{level}.bias"),
        ("progression.{k}.conv1.0.conv.weight_orig", "blocks.{level}.conv1.weight"),
        ("progression.{k}.conv1.0.conv.bias", "blocks.{level}.conv1.bias"),
        ("progression.{k}.conv2.0.weight", VERIFIED_BLUR),
        ("progression.{k}.conv2.0.weight_flip", VERIFIED_BLUR),
        ("progression.{k}.conv2.1.weight", "blocks.{level}.conv2.weight"),  # fused: FusedDownsample (out, in, 3, 3)
        ("progression.{k}.conv2.1.bias", "blocks.{level}.conv2.bias"),
        ("progression.{k}.conv2.1.conv.weight_orig", "blocks.{level}.conv2.weight"),  # EqualConv2d, then AvgPool
        ("progression.{k}.conv2.1.conv.bias", "blocks.{level}.conv2.bias"),
        ("progression.{k}.conv2.0.conv.weight_orig", "blocks.{level}.conv2.weight"),  # 4 px block: 4x4 valid conv
        ("progression.{k}.conv2.0.conv.bias", "blocks.{level}.conv2.bias"),
        ("linear.linear.weight_orig", "blocks.0.linear.weight"),
        ("linear.linear.bias", "blocks.0.linear.bias"),
    ),
    "encoder": (  # official ResNetEncoder: the ResNet's fc was replaced by the head
        ("backbone.fc.{m}.{rest}", "head.{m}.{rest}"),
        ("backbone.{rest}", "backbone.{rest}"),
    ),
    "dynamics": (  # official MLPApproximator: impl.{i} = DenseResBlock(Linear, LayerNorm, LReLU, Linear)
        ("impl.{i}.impl.0.{rest}", "blocks.{i}.fc1.{rest}"),
        ("impl.{i}.impl.3.{rest}", "blocks.{i}.fc2.{rest}"),
        ("out.{rest}", "out.{rest}"),
    ),
}


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    for name in ("i", "k", "m", "j"):
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>\\d+)")
    pattern = pattern.replace(re.escape("{rest}"), "(?P<rest>.+)")
    return re.compile(pattern + r"\Z")


_COMPILED = {
    component: [(_compile(official), ours) for official, ours in rules] for component, rules in KEY_TABLE.items()
}


@dataclass
class _Mapped:
    """Result of applying the table to one state dict."""

    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)  # official keys of levels beyond the model resolution
    blur: list[str] = field(default_factory=list)  # verified Blur buffers


def _apply_table(
    component: str,
    official: Mapping[str, torch.Tensor],
    keep_level: Callable[[dict[str, int]], bool] = lambda values: True,
    add_values: Callable[[dict[str, Any]], None] = lambda values: None,
) -> _Mapped:
    """Rename every key through ``KEY_TABLE[component]``; an unknown key is an error (nothing is silently lost)."""
    mapped = _Mapped()
    unknown = []
    for key, tensor in official.items():
        for pattern, ours in _COMPILED[component]:
            match = pattern.match(key)
            if match is None:
                continue
            values: dict[str, Any] = {
                name: int(value) if name != "rest" else value for name, value in match.groupdict().items()
            }
            add_values(values)
            if not keep_level(values):
                mapped.dropped.append(key)
            elif ours == VERIFIED_BLUR:
                _check_blur(key, tensor)
                mapped.blur.append(key)
            else:
                target = ours.format(**values)
                if target in mapped.state_dict:
                    raise OfficialCheckpointError(f"two official keys map to '{target}' (last: '{key}').")
                mapped.state_dict[target] = tensor
            break
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(sorted(unknown)[:8]) + (f", ... ({len(unknown)} in all)" if len(unknown) > 8 else "")
        raise OfficialCheckpointError(f"the {component} state dict has keys the converter does not know: {shown}.")
    return mapped


def _check_blur(key: str, tensor: torch.Tensor) -> None:
    taps = torch.tensor(BLUR_TAPS, dtype=torch.float64)
    kernel = torch.outer(taps, taps) / taps.sum() ** 2
    if tensor.dim() != 4 or tuple(tensor.shape[1:]) != (1, 3, 3):
        raise OfficialCheckpointError(f"'{key}' should be a Blur kernel (C, 1, 3, 3), got {tuple(tensor.shape)}.")
    if not torch.allclose(tensor.double(), kernel.expand_as(tensor), atol=BLUR_ATOL, rtol=0):
        raise OfficialCheckpointError(
            f"'{key}' is not the [1,2,1]x[1,2,1]/16 blur kernel our layers hard-code; this checkpoint cannot be "
            "converted exactly."
        )


def _strip_wrappers(state_dict: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Tensors only, without DataParallel's ``module.`` prefix."""
    return {
        (key[len("module.") :] if key.startswith("module.") else key): value
        for key, value in state_dict.items()
        if isinstance(value, torch.Tensor)
    }


# =====================================================================================================================
# Per-component conversion
# =====================================================================================================================
def _levels_with(state_dict: Mapping[str, torch.Tensor], pattern: str) -> list[int]:
    regex = re.compile(pattern)
    return sorted({int(m.group(1)) for key in state_dict if (m := regex.match(key))})


def convert_generator_state_dict(
    official: Mapping[str, torch.Tensor], resolution: int, z_dynamic_dim: int = 3
) -> tuple[GeneratorConfig, dict[str, torch.Tensor], list[str]]:
    """Official ``g_running`` state dict -> (our config, our state dict without ``w_avg``, dropped official keys).

    The architecture (widths, mapping depth, where fused upsampling starts, one or two noises) is read from the
    tensor shapes. Blocks above ``resolution`` (the authors build all 9 up to 1024 px) are dropped; they were never
    trained. ``z_dynamic_dim`` is not stored in the checkpoint (official ``dyn_style_coordinates``: 3).
    """
    official = _strip_wrappers(official)
    if resolution not in SUPPORTED_RESOLUTIONS:
        raise OfficialCheckpointError(f"resolution must be one of {SUPPORTED_RESOLUTIONS}, got {resolution}.")
    mapping_layers = _levels_with(official, r"style\.(\d+)\.linear\.weight_orig\Z")
    rgb_levels = _levels_with(official, r"generator\.to_rgb\.(\d+)\.conv\.weight_orig\Z")
    if not mapping_layers or not rgb_levels:
        raise OfficialCheckpointError(
            "this is not a DeepLandscape generator state dict (no style.*.linear / generator.to_rgb.* weights)."
        )
    num_levels = int(math.log2(resolution)) - 1
    if rgb_levels != list(range(len(rgb_levels))) or len(rgb_levels) < num_levels:
        raise OfficialCheckpointError(
            f"the generator has levels {rgb_levels}, but {resolution} px needs levels 0..{num_levels - 1}."
        )
    first = official[f"style.{mapping_layers[0]}.linear.weight_orig"]
    fused_levels = _levels_with(official, r"generator\.progression\.(\d+)\.conv1\.0\.weight\Z")
    two_noises = any(".noise12." in key for key in official)
    config = GeneratorConfig(
        resolution=resolution,
        channels=[int(official[f"generator.to_rgb.{level}.conv.weight_orig"].shape[1]) for level in rgb_levels],
        z_dim=int(first.shape[1]),
        z_dynamic_dim=z_dynamic_dim,
        w_dim=int(first.shape[0]),
        mapping_layers=len(mapping_layers),
        fused_from_resolution=4 * 2 ** min(fused_levels) if fused_levels else 2 * max(SUPPORTED_RESOLUTIONS),
        two_noises=two_noises,
    )
    mapped = _apply_table("generator", official, keep_level=lambda values: values.get("i", 0) < num_levels)
    if not two_noises:  # official two_noises=False: the single pair noise1/noise2 receives the dynamic map
        mapped.state_dict = {key.replace("static_noise", "dynamic_noise"): v for key, v in mapped.state_dict.items()}
    return config, mapped.state_dict, mapped.dropped


def convert_discriminator_state_dict(
    official: Mapping[str, torch.Tensor], resolution: int, frames: int
) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor], list[str]]:
    """Official ``discriminator`` (frames=1) or ``n_frames_discriminator`` (frames=2) -> (config, state, dropped).

    Official index k counts from the 1024 px entry (k = 0) down to the 4 px block (k = 8): our level = 8 - k.
    """
    official = _strip_wrappers(official)
    indices = _levels_with(official, r"from_rgb\.(\d+)\.conv\.weight_orig\Z")
    if not indices or "linear.linear.weight_orig" not in official:
        raise OfficialCheckpointError("this is not a DeepLandscape discriminator state dict (no from_rgb / linear).")
    last = max(indices)  # the 4 px block: 8 in every official checkpoint
    num_levels = int(math.log2(resolution)) - 1
    if last + 1 < num_levels:
        raise OfficialCheckpointError(f"the discriminator has {last + 1} levels; {resolution} px needs {num_levels}.")
    channels = []
    for level in range(last + 1):
        weight = official.get(f"progression.{last - level}.conv1.0.conv.weight_orig")
        if weight is None:
            raise OfficialCheckpointError(f"discriminator block {last - level} is missing.")
        channels.append(int(weight.shape[1]) - (1 if level == 0 else 0))  # the 4 px block also sees the std channel
    fused = [last - k for k in _levels_with(official, r"progression\.(\d+)\.conv2\.1\.weight\Z")]
    config = DiscriminatorConfig(
        resolution=resolution,
        channels=channels,
        fused_from_resolution=4 * 2 ** min(fused) if fused else 2 * max(SUPPORTED_RESOLUTIONS),
        frames=frames,
    )

    def add_level(values: dict[str, Any]) -> None:
        if "k" in values:
            values["level"] = last - values["k"]

    mapped = _apply_table(
        "discriminator", official, keep_level=lambda v: v.get("level", 0) < num_levels, add_values=add_level
    )
    return config, mapped.state_dict, mapped.dropped


def _as_state_dict(obj: Any, what: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict, plain attributes) of a pickled module (unwrapping DataParallel) or of a plain state dict."""
    if isinstance(obj, PickledObject):
        if obj.qualified_name.endswith("DataParallel"):
            obj = (obj.state.get("_modules") or {}).get("module", obj)
        attributes = {k: v for k, v in obj.state.items() if not k.startswith("_")}
        return module_state_dict(obj), attributes
    if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return _strip_wrappers(obj), {}
    raise OfficialCheckpointError(
        f"the {what} file holds a {type(obj).__name__}, not a pickled module or a state dict."
    )


def convert_encoder_state_dict(
    official: Mapping[str, torch.Tensor], num_levels: int, w_dim: int, image_size: int = 256
) -> tuple[Any, dict[str, torch.Tensor]]:
    """Official ``ResNetEncoder`` state -> (EncoderConfig, our state dict). The trunk depth is read from the keys.

    ``image_size`` is what the encoder is fed: the authors' animation code gives it the photo's crop at the
    generator's resolution (512 px for the 512 px model), not a 256 px resize.
    """
    from ..networks.encoder import EncoderConfig

    official = _strip_wrappers(official)
    stages = tuple(len(_levels_with(official, rf"backbone\.layer{s}\.(\d+)\.conv1\.weight\Z")) for s in range(1, 5))
    bottleneck = any(key.startswith("backbone.layer1.0.conv3.") for key in official)
    backbone = RESNET_LAYOUTS.get((stages, bottleneck))
    if backbone is None or "backbone.fc.0.weight" not in official or "backbone.fc.3.weight" not in official:
        raise OfficialCheckpointError(
            f"this is not an official ResNetEncoder (ResNet stages {stages}, bottleneck {bottleneck}, head "
            f"{'present' if 'backbone.fc.0.weight' in official else 'missing'})."
        )
    out_features = int(official["backbone.fc.3.weight"].shape[0])
    if out_features != num_levels * w_dim:
        raise OfficialCheckpointError(
            f"the encoder predicts {out_features} values, but the generator needs {num_levels} levels x {w_dim} "
            "(is it the encoder of another resolution?)."
        )
    config = EncoderConfig(
        backbone=backbone,
        num_levels=num_levels,
        per_level=True,
        w_dim=w_dim,
        hidden=int(official["backbone.fc.0.weight"].shape[0]),
        pretrained_backbone=False,  # every trunk weight comes from the checkpoint
        image_size=image_size,
    )
    return config, _apply_table("encoder", official).state_dict


def convert_dynamics_state_dict(official: Mapping[str, torch.Tensor]) -> tuple[Any, dict[str, torch.Tensor]]:
    """Official ``MLPApproximator`` state -> (DynamicsConfig, our state dict)."""
    from ..networks.dynamics import DynamicsConfig

    official = _strip_wrappers(official)
    depth = len(_levels_with(official, r"impl\.(\d+)\.impl\.0\.weight\Z"))
    if "out.weight" not in official or depth == 0:
        raise OfficialCheckpointError("this is not an official MLPApproximator (no impl.*.impl.0 / out weights).")
    w_dim, input_dim = (int(s) for s in official["out.weight"].shape)
    config = DynamicsConfig(w_dim=w_dim, z_dynamic_dim=input_dim - w_dim - 1, depth=depth)
    return config, _apply_table("dynamics", official).state_dict


# =====================================================================================================================
# Whole checkpoint -> folder
# =====================================================================================================================
@dataclass
class ConversionReport:
    """What `convert_official_checkpoint` wrote and dropped."""

    output_dir: Path
    resolution: int
    components: list[str]
    dropped_keys: dict[str, list[str]]
    checkpoint_info: dict[str, Any]


def _checkpoint_resolution(checkpoint: Mapping[str, Any], requested: int | None, source: str) -> int:
    stored = checkpoint.get("resolution")
    if not isinstance(stored, int) and isinstance(checkpoint.get("step"), int):
        stored = 4 * 2 ** checkpoint["step"]
    if requested is None:
        if not isinstance(stored, int):
            raise OfficialCheckpointError(f"{source} does not record its resolution; pass --resolution 256 or 512.")
        return stored
    if isinstance(stored, int) and stored != requested:
        raise OfficialCheckpointError(
            f"{source} was trained up to {stored} px, but --resolution {requested} was given; its blocks above "
            f"{stored} px are untrained. Leave --resolution out or pass {stored}."
        )
    return requested


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _model_card(source: Path, digest: str, info: dict[str, Any], report: ConversionReport, w_avg: str) -> str:
    resolution = report.resolution
    dropped = sum(len(keys) for keys in report.dropped_keys.values())
    lines = [
        "---",
        "library_name: deeplandscape-hf",
        "license: mit",
        "pipeline_tag: image-to-video",
        "tags: [deeplandscape, gan, stylegan, landscape, video-generation, image-to-video]",
        "---",
        f"# DeepLandscape {resolution} px (converted from the authors' release)",
        "",
        "Weights of *DeepLandscape: Adversarial Modeling of Landscape Videos* (Logacheva et al., ECCV 2020), "
        f"converted losslessly from the official checkpoint by `deeplandscape convert-official`. {OFFICIAL_COPYRIGHT}; "
        f"source: {SOURCE_URL}.",
        "",
        "## Source",
        f"- checkpoint: `{source.name}` (sha256 `{digest}`)",
        f"- exported network: `g_running` (the EMA generator the authors use for inference); iteration "
        f"{info.get('iteration', '?')}, step {info.get('step', '?')}, alpha {info.get('alpha', '?')}",
        f"- components: {', '.join(report.components)}",
        "",
        "## Conversion notes",
        f"- The authors build all 9 blocks (up to 1024 px) in every checkpoint; the {dropped} keys of blocks above "
        f"{resolution} px were never trained and were dropped.",
        "- Blur kernels are not stored: each official Blur buffer was checked to equal the fixed [1,2,1]x[1,2,1]/16 "
        "kernel before being dropped.",
        f"- `w_avg` (truncation centre) was recomputed: {w_avg}. The official code draws it afresh on every run.",
        "- Style strength for named times of day: "
        f"{STYLE_STRENGTH.get(resolution, DEFAULT_STYLE_STRENGTH)} (official style configs at this resolution).",
        "",
        "## Usage",
        "```python",
        "from deeplandscape_hf import DeepLandscapeGenerator",
        'G = DeepLandscapeGenerator.from_pretrained("path/or/hub-id")',
        'video = G.generate_video(num_frames=100, seed=0, motion="m01")  # (T, 3, H, W) in [-1, 1]',
        "```",
        "",
    ]
    return "\n".join(lines)


def _scalar_info(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    info = {}
    for key in ("iteration", "step", "alpha", "resolution", "used_samples"):
        value = checkpoint.get(key)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (int, float)):
            info[key] = value
    return info


def convert_official_checkpoint(
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    encoder: str | os.PathLike | None = None,
    dynamics: str | os.PathLike | None = None,
    resolution: int | None = None,
    z_dynamic_dim: int = 3,
    w_avg_samples: int = W_AVG_SAMPLES,
    w_avg_seed: int = W_AVG_SEED,
    overwrite: bool = False,
    progress: bool = False,
) -> ConversionReport:
    """Convert the authors' checkpoint (plus optional encoder / network A) into a hub-ready folder ``out_dir``.

    Args:
        checkpoint: official generator checkpoint, e.g. ``results/checkpoints/256/475000.model``.
        out_dir: folder to create (must not exist unless ``overwrite``).
        encoder: official ``results/encoders/<res>_resnet/models/best_model.pth`` (pickled ResNetEncoder).
        dynamics: official ``results/encoders/<res>_mlp/models/best_model.pth`` (pickled MLPApproximator, network A).
        resolution: model resolution; read from the checkpoint when omitted (must agree with it when given).
        z_dynamic_dim: size of z_dyn (not stored in checkpoints; official 3).
        w_avg_samples, w_avg_seed: the mean w used for truncation is the mean of M(z) over this many seeded z.
        overwrite: replace an existing ``out_dir`` (only after the new one is complete).
        progress: show a progress bar over the stages (reading, converting, w_avg, writing) on stderr.

    Raises:
        OfficialCheckpointError / UnsafeCheckpointError: unreadable, refused or unexpected input; nothing is written.
        FileExistsError: ``out_dir`` exists and ``overwrite`` is False.
    """
    checkpoint, out_dir = Path(checkpoint).expanduser(), Path(out_dir).expanduser()
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir} already exists; choose another --out or pass --overwrite.")
    for name, value in (("checkpoint", checkpoint), ("encoder", encoder), ("dynamics", dynamics)):
        if value is not None and not Path(value).expanduser().is_file():
            raise FileNotFoundError(f"{name} file not found: {value}")
        # --overwrite replaces the output folder whole: never one that holds an input, nor something not a model
        if value is not None and out_dir.resolve() in Path(value).expanduser().resolve().parents:
            raise ValueError(f"the {name} '{value}' lies inside --out '{out_dir}'; write the model to another folder.")
    holds_other_things = out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "config.json").is_file()
    if out_dir.exists() and (not out_dir.is_dir() or holds_other_things):
        raise FileExistsError(
            f"{out_dir} exists and is not a model folder (no config.json); --overwrite replaces model folders only."
        )
    if w_avg_samples < 1:
        raise ValueError(f"w_avg_samples must be >= 1, got {w_avg_samples}.")

    # 1. Read everything first: a refused or broken input stops us before anything touches the disk.
    stages = ["reading checkpoint", "generator", "w_avg", "discriminators"]
    stages += ["encoder"] * (encoder is not None) + ["network A"] * (dynamics is not None) + ["writing"]
    bar = tqdm(total=len(stages), desc="convert-official", unit="stage", disable=not progress)

    @contextlib.contextmanager
    def stage(name: str) -> Iterator[None]:
        bar.set_postfix_str(name)
        yield
        bar.update(1)

    with bar:
        with stage("reading checkpoint"):
            loaded = load_official_file(checkpoint)
        if not isinstance(loaded, Mapping) or not isinstance(loaded.get("g_running"), Mapping):
            keys = sorted(str(k) for k in loaded)[:10] if isinstance(loaded, Mapping) else type(loaded).__name__
            raise OfficialCheckpointError(
                f"{checkpoint} is not an official DeepLandscape generator checkpoint: expected a dict with "
                f"'g_running', 'discriminator', 'n_frames_discriminator', ...; found {keys}."
            )
        resolution = _checkpoint_resolution(loaded, resolution, str(checkpoint))
        info = _scalar_info(loaded)
        with stage("generator"):
            generator, g_dropped = _converted_generator(
                loaded["g_running"], resolution, z_dynamic_dim, info, checkpoint
            )
        with stage("w_avg"):
            generator.compute_w_avg(num_samples=w_avg_samples, seed=w_avg_seed, progress=progress)
        components = ["generator (g_running)"]
        dropped = {"generator": g_dropped}

        discriminators = {}
        with stage("discriminators"):
            for key, sub, cls, frames in (
                ("discriminator", "image", ImageDiscriminator, 1),
                ("n_frames_discriminator", "pairwise", PairwiseDiscriminator, 2),
            ):
                if not isinstance(loaded.get(key), Mapping):
                    logger.warning("%s has no '%s'; discriminators/%s is not written.", checkpoint, key, sub)
                    continue
                d_config, d_state, d_dropped = convert_discriminator_state_dict(loaded[key], resolution, frames)
                model = cls(d_config)
                load_state_dict_strict(model, d_state, source=f"{checkpoint} [{key}]")
                discriminators[sub] = model
                components.append(f"discriminators/{sub} ({key})")
                dropped[key] = d_dropped

        extras = {}
        if encoder is not None:
            with stage("encoder"):
                extras["encoder"] = _converted_encoder(Path(encoder), generator.config, resolution)
            components.append(f"encoder ({Path(encoder).name})")
        if dynamics is not None:
            with stage("network A"):
                extras["dynamics"] = _converted_dynamics(Path(dynamics), generator.config)
            components.append(f"dynamics ({Path(dynamics).name})")
        report = ConversionReport(out_dir, resolution, components, dropped, info)
        with stage("writing"):
            _write_folder(
                out_dir,
                overwrite,
                generator,
                discriminators,
                extras,
                checkpoint,
                info,
                report,
                w_avg_samples,
                w_avg_seed,
            )
    logger.info("wrote %s (%s)", out_dir, ", ".join(components))
    return report


def _converted_generator(
    official: Mapping[str, Any], resolution: int, z_dynamic_dim: int, info: dict[str, Any], source: Path
) -> tuple[DeepLandscapeGenerator, list[str]]:
    """Our generator with the converted ``g_running`` weights (``w_avg`` still zero), and the dropped official keys."""
    config, state, dropped = convert_generator_state_dict(official, resolution, z_dynamic_dim)
    alpha = info.get("alpha")
    if isinstance(alpha, (int, float)) and 0 <= alpha < 1:
        # Saved mid fade-in: the authors' generator blends the last level with the previous one at this alpha.
        logger.warning("checkpoint alpha is %s < 1 (saved during a fade-in): the model renders with it.", alpha)
        config = replace(config, fade_in_alpha=float(alpha))
    generator = DeepLandscapeGenerator(config)
    load_state_dict_strict(generator, {**state, "w_avg": generator.w_avg}, source=f"{source} [g_running]")
    return generator.eval(), dropped


def _converted_encoder(path: Path, g_config: GeneratorConfig, resolution: int) -> nn.Module:
    from ..networks.encoder import DeepLandscapeEncoder

    state, _ = _as_state_dict(load_official_file(path), "encoder")
    e_config, e_state = convert_encoder_state_dict(state, g_config.num_levels, g_config.w_dim, resolution)
    model = DeepLandscapeEncoder(e_config)
    load_state_dict_strict(model, e_state, source=str(path))
    return model


def _converted_dynamics(path: Path, g_config: GeneratorConfig) -> nn.Module:
    from ..networks.dynamics import StyleDynamicsNet

    state, _ = _as_state_dict(load_official_file(path), "dynamics")
    a_config, a_state = convert_dynamics_state_dict(state)
    if a_config.w_dim != g_config.w_dim or a_config.z_dynamic_dim != g_config.z_dynamic_dim:
        raise OfficialCheckpointError(
            f"network A works on w_dim {a_config.w_dim} and z_dyn of {a_config.z_dynamic_dim}, the generator on "
            f"{g_config.w_dim} and {g_config.z_dynamic_dim}: they do not belong together."
        )
    model = StyleDynamicsNet(a_config)
    load_state_dict_strict(model, a_state, source=str(path))
    return model


def _write_folder(
    out_dir: Path,
    overwrite: bool,
    generator: DeepLandscapeGenerator,
    discriminators: dict[str, nn.Module],
    extras: dict[str, nn.Module],
    checkpoint: Path,
    info: dict[str, Any],
    report: ConversionReport,
    w_avg_samples: int,
    w_avg_seed: int,
) -> None:
    """Write into a hidden sibling folder, then rename: no half-written output on any failure."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    resolution = report.resolution
    try:
        generator.save_pretrained(staging)
        w_avg_note = f"mean of M(z) over {w_avg_samples} z ~ N(0, I) drawn with seed {w_avg_seed}"
        card = _model_card(checkpoint, _sha256(checkpoint), info, report, w_avg_note)
        (staging / "README.md").write_text(card, encoding="utf-8")
        for sub, model in discriminators.items():
            model.save_pretrained(staging / "discriminators" / sub)
        for sub, model in extras.items():
            model.save_pretrained(staging / sub)
        pipeline = {
            "resolution": resolution,
            "style_strength": STYLE_STRENGTH.get(resolution, DEFAULT_STYLE_STRENGTH),
            "styles": StyleVocabulary.authors().to_json(),  # their targets were found on these weights
        }
        (staging / "pipeline.json").write_text(json.dumps(pipeline, indent=2) + "\n", encoding="utf-8")
        give_default_permissions(staging)  # mkdtemp made it private; the finished model is for sharing
        _move_into_place(staging, out_dir, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _move_into_place(staging: Path, out_dir: Path, overwrite: bool) -> None:
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    if not overwrite:
        raise FileExistsError(f"{out_dir} appeared while converting; nothing was replaced.")
    backup = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    os.replace(out_dir, backup)
    try:
        os.replace(staging, out_dir)
    except BaseException:
        os.replace(backup, out_dir)
        raise
    shutil.rmtree(backup, ignore_errors=True)
