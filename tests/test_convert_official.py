"""Conversion of the authors' checkpoints: safe loading, the key table, and frame-level fidelity.

We cannot run the authors' code here, so `official_forward` re-implements THEIR arithmetic from their layer
definitions: it reads the official state dict by its official names, applies the equal-lr scale
``weight_orig * sqrt(2 / fan_in)`` itself, uses the checkpoint's own Blur buffers, and writes instance norm and the
fused-upsampling kernel out by hand. The converted model must match it to 1e-5.
"""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deeplandscape_hf import DeepLandscapeGenerator, ImageDiscriminator, PairwiseDiscriminator
from deeplandscape_hf.animation.pipeline import PipelineConfig
from deeplandscape_hf.conversion.official import (
    KEY_TABLE,
    OfficialCheckpointError,
    UnsafeCheckpointError,
    convert_discriminator_state_dict,
    convert_generator_state_dict,
    convert_official_checkpoint,
    load_official_file,
    module_state_dict,
)
from deeplandscape_hf.motion.styles import STYLE_TARGETS
from deeplandscape_hf.networks.hub import load_state_dict_strict

OFFICIAL_G_CHANNELS = [512, 512, 512, 512, 256, 128, 64, 32, 16]  # the authors' widths, level 0 (4 px) first
OFFICIAL_D_CHANNELS_BY_K = [16, 32, 64, 128, 256, 512, 512, 512, 512]  # the authors' widths, k = 0 (1024 px) first
BLUR = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16


# ----------------------------------------------------------------------------------------------- fake checkpoints
def official_generator_state(
    channels=OFFICIAL_G_CHANNELS, z_dim=512, mapping_layers=8, fused_from_level=5, make=torch.randn
) -> dict[str, torch.Tensor]:
    """Every key of the authors' StyledGenerator, 9 blocks, with ``make(shape)`` values."""
    state: dict[str, torch.Tensor] = {}
    w_dim = z_dim
    for index in range(mapping_layers):
        m = 2 * index + 1
        state[f"style.{m}.linear.weight_orig"] = make((w_dim, z_dim if index == 0 else w_dim))
        state[f"style.{m}.linear.bias"] = make((w_dim,))
    for i, out in enumerate(channels):
        p = f"generator.progression.{i}."
        inp = channels[max(i - 1, 0)]
        if i == 0:
            state[p + "conv1.input"] = make((1, out, 4, 4))
        elif i < fused_from_level:
            state[p + "conv1.1.conv.weight_orig"] = make((out, inp, 3, 3))
            state[p + "conv1.1.conv.bias"] = make((out,))
            state[p + "conv1.2.weight"] = BLUR.expand(out, 1, 3, 3).clone()
            state[p + "conv1.2.weight_flip"] = BLUR.flip([0, 1]).expand(out, 1, 3, 3).clone()
        else:
            state[p + "conv1.0.weight"] = make((inp, out, 3, 3))
            state[p + "conv1.0.bias"] = make((out,))
            state[p + "conv1.1.weight"] = BLUR.expand(out, 1, 3, 3).clone()
            state[p + "conv1.1.weight_flip"] = BLUR.flip([0, 1]).expand(out, 1, 3, 3).clone()
        for noise in ("noise1", "noise12", "noise2", "noise22"):
            state[p + f"{noise}.weight_orig"] = make((1, out, 1, 1))
        for j in (1, 2):
            state[p + f"adain{j}.style.linear.weight_orig"] = make((2 * out, w_dim))
            state[p + f"adain{j}.style.linear.bias"] = make((2 * out,))
        state[p + "conv2.conv.weight_orig"] = make((out, out, 3, 3))
        state[p + "conv2.conv.bias"] = make((out,))
    for i, out in enumerate(channels):
        state[f"generator.to_rgb.{i}.conv.weight_orig"] = make((3, out, 1, 1))
        state[f"generator.to_rgb.{i}.conv.bias"] = make((3,))
    return state


def official_discriminator_state(
    channels_by_k=OFFICIAL_D_CHANNELS_BY_K, frames=1, fused_below_k=4, make=torch.randn
) -> dict[str, torch.Tensor]:
    """Every key of the authors' Discriminator / NFramesDiscriminator."""
    state: dict[str, torch.Tensor] = {}
    last = len(channels_by_k) - 1
    for k, width in enumerate(channels_by_k):
        state[f"from_rgb.{k}.conv.weight_orig"] = make((width // frames, 3, 1, 1))
        state[f"from_rgb.{k}.conv.bias"] = make((width // frames,))
        p = f"progression.{k}."
        if k == last:
            state[p + "conv1.0.conv.weight_orig"] = make((width, width + 1, 3, 3))
            state[p + "conv1.0.conv.bias"] = make((width,))
            state[p + "conv2.0.conv.weight_orig"] = make((width, width, 4, 4))
            state[p + "conv2.0.conv.bias"] = make((width,))
            continue
        out = channels_by_k[k + 1]
        state[p + "conv1.0.conv.weight_orig"] = make((out, width, 3, 3))
        state[p + "conv1.0.conv.bias"] = make((out,))
        state[p + "conv2.0.weight"] = BLUR.expand(out, 1, 3, 3).clone()
        state[p + "conv2.0.weight_flip"] = BLUR.flip([0, 1]).expand(out, 1, 3, 3).clone()
        if k < fused_below_k:
            state[p + "conv2.1.weight"] = make((out, out, 3, 3))
            state[p + "conv2.1.bias"] = make((out,))
        else:
            state[p + "conv2.1.conv.weight_orig"] = make((out, out, 3, 3))
            state[p + "conv2.1.conv.bias"] = make((out,))
    state["linear.linear.weight_orig"] = make((1, channels_by_k[-1]))
    state["linear.linear.bias"] = make((1,))
    return state


TINY_G = [16, 16, 8, 8, 8, 4, 4, 4, 4]
TINY_D = [4, 4, 4, 4, 8, 8, 8, 16, 16]


def tiny_checkpoint(step: int = 3, fused_from_level: int = 3) -> dict:
    """A whole official training checkpoint with tiny widths; fused blocks start at 32 px so both kinds are used."""
    g = official_generator_state(TINY_G, z_dim=16, mapping_layers=2, fused_from_level=fused_from_level)
    return {
        "generator": {k: v + 1 for k, v in g.items()},  # the non-EMA copy must NOT be exported
        "g_running": g,
        "discriminator": official_discriminator_state(TINY_D, frames=1, fused_below_k=6),
        "n_frames_discriminator": official_discriminator_state(TINY_D, frames=2, fused_below_k=6),
        "g_optimizer": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2)}}, "param_groups": []},
        "d_optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "betas": (0.0, 0.99)}]},
        "nfd_optimizer": {"state": {}, "param_groups": []},
        "alpha": 1.0,
        "step": step,
        "resolution": 4 * 2**step,
        "used_samples": 1234,
        "iteration": 475000,
    }


# ----------------------------------------------------------------------------------------- official arithmetic
def _equal_lr(weight: torch.Tensor) -> torch.Tensor:
    fan_in = weight.size(1) * weight[0][0].numel()  # official EqualLR.compute_weight
    return weight * math.sqrt(2 / fan_in)


def _instance_norm(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5)


def _fused_upsample(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    in_channels = weight.shape[0]
    scaled = weight * math.sqrt(2 / (in_channels * 9))
    padded = F.pad(scaled, [1, 1, 1, 1])  # (in, out, 5, 5)
    # average of the 4 one-pixel shifts = 2x2 box filter over the padded kernel
    box = torch.full((1, 1, 2, 2), 0.25, dtype=weight.dtype)
    kernel = F.conv2d(padded.reshape(-1, 1, 5, 5), box).reshape(*weight.shape[:2], 4, 4)
    return F.conv_transpose2d(x, kernel, bias, stride=2, padding=1)


def official_forward(sd, z, static, dynamic, step, mean_style=None, psi=1.0, alpha=1.0):
    """The authors' StyledGenerator forward with one latent, written from the authors' code on their key names."""
    # mapping network: PixelNorm, then EqualLinear + LeakyReLU(0.2) at indices 1, 3, ...
    w = z / torch.sqrt(torch.mean(z**2, dim=1, keepdim=True) + 1e-8)
    m = 1
    while f"style.{m}.linear.weight_orig" in sd:
        w = F.leaky_relu(F.linear(w, _equal_lr(sd[f"style.{m}.linear.weight_orig"]), sd[f"style.{m}.linear.bias"]), 0.2)
        m += 2
    if mean_style is not None:
        w = mean_style + psi * (w - mean_style)

    def adain(x, prefix):
        style = F.linear(w, _equal_lr(sd[prefix + "style.linear.weight_orig"]), sd[prefix + "style.linear.bias"])
        gamma, beta = style[:, :, None, None].chunk(2, 1)
        return gamma * _instance_norm(x) + beta

    def noise(x, prefix, noise_map):
        return x + _equal_lr(sd[prefix + "weight_orig"]) * noise_map

    def blur(x, weight):
        return F.conv2d(x, weight, padding=1, groups=x.shape[1])

    out = previous = None
    for i in range(step + 1):
        p = f"generator.progression.{i}."
        previous = out
        if i == 0:
            out = sd[p + "conv1.input"].repeat(z.shape[0], 1, 1, 1)
        elif p + "conv1.0.weight" in sd:
            out = blur(_fused_upsample(out, sd[p + "conv1.0.weight"], sd[p + "conv1.0.bias"]), sd[p + "conv1.1.weight"])
        else:
            up = F.interpolate(out, scale_factor=2, mode="nearest")
            out = F.conv2d(up, _equal_lr(sd[p + "conv1.1.conv.weight_orig"]), sd[p + "conv1.1.conv.bias"], padding=1)
            out = blur(out, sd[p + "conv1.2.weight"])
        out = noise(noise(out, p + "noise1.", static[i]), p + "noise12.", dynamic[i])
        out = adain(F.leaky_relu(out, 0.2), p + "adain1.")
        out = F.conv2d(out, _equal_lr(sd[p + "conv2.conv.weight_orig"]), sd[p + "conv2.conv.bias"], padding=1)
        out = noise(noise(out, p + "noise2.", static[i]), p + "noise22.", dynamic[i])
        out = adain(F.leaky_relu(out, 0.2), p + "adain2.")

    def to_rgb(level, x):
        return F.conv2d(
            x, _equal_lr(sd[f"generator.to_rgb.{level}.conv.weight_orig"]), sd[f"generator.to_rgb.{level}.conv.bias"]
        )

    rgb = to_rgb(step, out)
    if step > 0 and 0 <= alpha < 1:
        rgb = (1 - alpha) * F.interpolate(to_rgb(step - 1, previous), scale_factor=2, mode="nearest") + alpha * rgb
    return rgb


# -------------------------------------------------------------------------------------------------------- tests
def test_official_256_key_set_maps_every_tensor_once():
    values = iter(range(1, 10**6))
    official = official_generator_state(make=lambda shape: torch.full(shape, float(next(values))))
    assert len(official) == 157  # the authors' StyledGenerator has 157 keys
    assert sum(v.numel() for v in official.values()) == pytest.approx(26.26e6, rel=1e-3)
    config, state, dropped = convert_generator_state_dict(official, 256)
    assert config.channels == OFFICIAL_G_CHANNELS and config.fused_from_resolution == 128 and config.two_noises
    assert config.z_dim == config.w_dim == 512 and config.mapping_layers == 8
    model = DeepLandscapeGenerator(config)
    load_state_dict_strict(model, {**state, "w_avg": model.w_avg})  # no missing, unexpected or mis-shaped key
    # blocks 7 and 8 (512, 1024 px) are the only dropped tensors; blur buffers are checked and dropped
    assert {k.split(".")[2] for k in dropped if k.startswith("generator.progression")} == {"7", "8"}
    assert {k.split(".")[2] for k in dropped if k.startswith("generator.to_rgb")} == {"7", "8"}
    blur_keys = [k for k in official if k.endswith(("conv1.2.weight", "conv1.2.weight_flip"))]
    blur_keys += [k for k in official if ".conv1.1.weight" in k]
    assert len(state) + len(dropped) + len([k for k in blur_keys if k not in dropped]) == 157
    expected = {
        "style.15.linear.weight_orig": "mapping.net.15.weight",
        "generator.progression.0.conv1.input": "blocks.0.conv1.input",
        "generator.progression.3.conv1.1.conv.weight_orig": "blocks.3.conv1.0.weight",
        "generator.progression.6.conv1.0.weight": "blocks.6.conv1.0.weight",
        "generator.progression.6.noise1.weight_orig": "blocks.6.static_noise1.weight",
        "generator.progression.6.noise12.weight_orig": "blocks.6.dynamic_noise1.weight",
        "generator.progression.2.noise2.weight_orig": "blocks.2.static_noise2.weight",
        "generator.progression.2.noise22.weight_orig": "blocks.2.dynamic_noise2.weight",
        "generator.progression.6.adain2.style.linear.weight_orig": "blocks.6.adain2.style.weight",
        "generator.progression.5.conv2.conv.bias": "blocks.5.conv2.bias",
        "generator.to_rgb.6.conv.weight_orig": "to_rgb.6.weight",
    }
    for official_key, our_key in expected.items():
        assert torch.equal(model.state_dict()[our_key], official[official_key]), official_key
    # every converted tensor is exactly one official tensor (each was filled with its own value), none used twice
    by_value = {float(v.flatten()[0]): k for k, v in official.items()}
    sources = [by_value[float(tensor.flatten()[0])] for tensor in state.values()]
    assert len(set(sources)) == len(state)
    for source, tensor in zip(sources, state.values()):
        assert torch.equal(tensor, official[source])


@pytest.mark.parametrize("frames, cls", [(1, ImageDiscriminator), (2, PairwiseDiscriminator)])
def test_official_256_discriminator_key_sets(frames, cls):
    values = iter(range(1, 10**6))
    official = official_discriminator_state(frames=frames, make=lambda shape: torch.full(shape, float(next(values))))
    assert len(official) == 72
    config, state, dropped = convert_discriminator_state_dict(official, 256, frames)
    assert config.fused_from_resolution == 128 and config.channels[:7] == [512, 512, 512, 512, 256, 128, 64]
    model = cls(config)
    load_state_dict_strict(model, state)
    assert {int(k.split(".")[1]) for k in dropped} == {0, 1}  # 1024 and 512 px entries (k = 8 - level)
    sd = model.state_dict()
    assert torch.equal(sd["from_rgb.6.weight"], official["from_rgb.2.conv.weight_orig"])  # k = 8 - level
    assert torch.equal(sd["blocks.6.conv2.weight"], official["progression.2.conv2.1.weight"])  # fused
    assert torch.equal(sd["blocks.4.conv2.weight"], official["progression.4.conv2.1.conv.weight_orig"])
    assert torch.equal(sd["blocks.0.conv1.weight"], official["progression.8.conv1.0.conv.weight_orig"])
    assert torch.equal(sd["blocks.0.conv2.weight"], official["progression.8.conv2.0.conv.weight_orig"])
    assert torch.equal(sd["blocks.0.linear.weight"], official["linear.linear.weight_orig"])
    assert sd["from_rgb.0.weight"].shape[0] == 512 // frames


def test_key_table_is_the_single_source():
    assert set(KEY_TABLE) == {"generator", "discriminator", "encoder", "dynamics"}
    official = official_generator_state(TINY_G, z_dim=16, mapping_layers=2)
    official["generator.progression.0.mystery"] = torch.zeros(1)
    with pytest.raises(OfficialCheckpointError, match="mystery"):
        convert_generator_state_dict(official, 32)


def test_blur_buffers_are_verified():
    official = official_generator_state(TINY_G, z_dim=16, mapping_layers=2, fused_from_level=3)
    official["generator.progression.1.conv1.2.weight"] = torch.ones(16, 1, 3, 3)
    with pytest.raises(OfficialCheckpointError, match="blur kernel"):
        convert_generator_state_dict(official, 32)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-torch1.3-format"])
def test_converted_generator_reproduces_official_arithmetic(tmp_path, legacy):
    torch.manual_seed(0)
    checkpoint = tiny_checkpoint(step=3, fused_from_level=3)
    path = tmp_path / "475000.model"
    torch.save(checkpoint, path, _use_new_zipfile_serialization=not legacy)
    report = convert_official_checkpoint(path, tmp_path / "out", w_avg_samples=256)
    out = tmp_path / "out"
    assert report.resolution == 32
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "config.json",
        "discriminators",
        "model.safetensors",
        "pipeline.json",
    ]
    assert "475000.model" in (out / "README.md").read_text()
    model = DeepLandscapeGenerator.from_pretrained(out)
    assert model.config.fused_from_resolution == 32 and model.resolution == 32

    generator = torch.Generator().manual_seed(1)
    z = torch.randn(3, 16, generator=generator)
    static, dynamic = model.make_noise(3, generator=generator)
    sd = checkpoint["g_running"]
    # float64 isolates the arithmetic (a wrong scale, kernel or noise routing shows far above 1e-5; layers.AdaIN
    # takes its statistics in float32, hence not 1e-12); float32 is what users run. Random N(0, 1) weights give
    # outputs of ~+-30, so float32 rounding is judged relative to that scale.
    sd64 = {k: v.double() for k, v in sd.items()}
    model64 = DeepLandscapeGenerator.from_pretrained(out).double()
    with torch.no_grad():
        for psi, alpha in ((1.0, 1.0), (0.7, 1.0), (1.0, 0.4)):
            maps64 = [[m.double() for m in maps] for maps in (static, dynamic)]
            ours = model64(z.double(), *maps64, truncation=psi, alpha=alpha)
            theirs = official_forward(sd64, z.double(), *maps64, step=3, mean_style=model64.w_avg, psi=psi, alpha=alpha)
            assert ours.abs().max() > 0.1
            torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
            ours32 = model(z, static, dynamic, truncation=psi, alpha=alpha)
            theirs32 = official_forward(sd, z, static, dynamic, step=3, mean_style=model.w_avg, psi=psi, alpha=alpha)
            assert (ours32 - theirs32).abs().max() <= 1e-5 * max(1.0, theirs32.abs().max().item())
            # the noise weights are non-zero, so this also checks which map feeds which injection
            swapped = official_forward(sd64, z.double(), *maps64[::-1], step=3, mean_style=model64.w_avg, psi=psi)
            assert (ours - swapped).abs().max() > 1e-2

    image_d = ImageDiscriminator.from_pretrained(out, subfolder="discriminators/image")
    pair_d = PairwiseDiscriminator.from_pretrained(out, subfolder="discriminators/pairwise")
    assert image_d.config.frames == 1 and pair_d.config.frames == 2
    assert image_d(torch.randn(2, 3, 32, 32)).shape == (2, 1)
    assert (out / "pipeline.json").read_text().strip().startswith("{")


def test_w_avg_is_seeded_mean_of_mapping(tmp_path):
    path = tmp_path / "ckpt.model"
    torch.save(tiny_checkpoint(), path)
    convert_official_checkpoint(path, tmp_path / "a", w_avg_samples=300, w_avg_seed=5)
    convert_official_checkpoint(path, tmp_path / "b", w_avg_samples=300, w_avg_seed=5)
    a = DeepLandscapeGenerator.from_pretrained(tmp_path / "a")
    b = DeepLandscapeGenerator.from_pretrained(tmp_path / "b")
    assert torch.equal(a.w_avg, b.w_avg) and a.w_avg.abs().sum() > 0
    z = torch.randn(300, 16, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a.w_avg, a.map(z).mean(0).detach(), atol=1e-5, rtol=1e-5)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > PWNED_MARKER",))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_pickle_calling_os_system_is_refused(tmp_path, monkeypatch, legacy):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.model"
    checkpoint = tiny_checkpoint()
    checkpoint["iteration"] = _Evil()
    torch.save(checkpoint, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(UnsafeCheckpointError, match="os.system|posix.system"):
        convert_official_checkpoint(path, tmp_path / "out", w_avg_samples=16)
    assert not (tmp_path / "PWNED_MARKER").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.model"]  # no output, no staging folder


@pytest.mark.parametrize("name, args", [("builtins", "eval"), ("subprocess", "Popen")])
def test_other_dangerous_globals_are_refused(tmp_path, name, args):
    import pickle

    payload = b"\x80\x02c" + f"{name}\n{args}\n".encode() + b"X\x01\x00\x00\x001\x85R."
    path = tmp_path / "evil.pth"
    path.write_bytes(
        pickle.dumps(LEGACY_HEADER[0], 2) + pickle.dumps(LEGACY_HEADER[1], 2) + pickle.dumps({}, 2) + payload
    )
    with pytest.raises(UnsafeCheckpointError, match=f"{name}.{args}"):
        load_official_file(path)


LEGACY_HEADER = (0x1950A86A20F9469CFC6C, 1001)


@pytest.mark.parametrize(
    "payload",
    [
        # GLOBAL torch.FloatStorage, then BUILD {"dtype": 1}: would change how every later file is read
        b"\x80\x02ctorch\nFloatStorage\n}X\x05\x00\x00\x00dtypeK\x01sb.",
        # GLOBAL torch._utils._rebuild_tensor_v2, then BUILD (None, {"__defaults__": ()}): a function's defaults
        b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nN}X\x0c\x00\x00\x00__defaults__)s\x86b.",
    ],
    ids=["storage type", "rebuild function"],
)
def test_pickle_cannot_rewrite_the_loaders_markers(tmp_path, payload):
    import pickle

    path = tmp_path / "poison.pth"
    path.write_bytes(b"".join(pickle.dumps(v, 2) for v in (*LEGACY_HEADER, {})) + payload)
    with pytest.raises(UnsafeCheckpointError, match="modify"):
        load_official_file(path)
    good = tmp_path / "good.pth"
    torch.save({"x": torch.arange(3.0)}, good, _use_new_zipfile_serialization=False)
    assert torch.equal(load_official_file(good)["x"], torch.arange(3.0))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_truncated_or_foreign_files_give_clear_errors(tmp_path, legacy):
    path = tmp_path / "ckpt.model"
    torch.save(tiny_checkpoint(), path, _use_new_zipfile_serialization=not legacy)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.model"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(OfficialCheckpointError, match="truncated"):  # either format: the message says so
        convert_official_checkpoint(truncated, tmp_path / "out", w_avg_samples=16)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(OfficialCheckpointError, match="not a PyTorch checkpoint"):
        load_official_file(text)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_wrong_kind_of_file_and_existing_output(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"conv.weight": torch.zeros(2)}, path)
    with pytest.raises(OfficialCheckpointError, match="g_running"):
        convert_official_checkpoint(path, tmp_path / "out", w_avg_samples=16)
    good = tmp_path / "good.model"
    torch.save(tiny_checkpoint(), good)
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError):
        convert_official_checkpoint(good, tmp_path / "out", w_avg_samples=16)
    with pytest.raises(OfficialCheckpointError, match="trained up to 32 px"):
        convert_official_checkpoint(good, tmp_path / "other", resolution=256, w_avg_samples=16)
    convert_official_checkpoint(good, tmp_path / "out", w_avg_samples=16, overwrite=True)
    assert (tmp_path / "out" / "model.safetensors").is_file()
    convert_official_checkpoint(good, tmp_path / "out", w_avg_samples=16, overwrite=True)  # a model folder: replaced
    # --overwrite replaces model folders only, and never the folder that holds an input
    inside = tmp_path / "authors"
    inside.mkdir()
    (inside / "475000.model").write_bytes(good.read_bytes())
    with pytest.raises(ValueError, match="lies inside --out"):
        convert_official_checkpoint(inside / "475000.model", inside, w_avg_samples=16, overwrite=True)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"a photo")
    with pytest.raises(FileExistsError, match="not a model folder"):
        convert_official_checkpoint(good, tmp_path / "photos", w_avg_samples=16, overwrite=True)
    assert (inside / "475000.model").is_file() and (tmp_path / "photos" / "a.jpg").is_file()


# -------------------------------------------------------------------------------- pickled encoder / network A
@pytest.fixture
def official_inference_module(monkeypatch):
    """A stand-in for the authors' ``inference.encoders`` so that torch.save pickles classes by their names."""
    import torchvision

    module = types.ModuleType("inference.encoders")
    package = types.ModuleType("inference")
    package.encoders = module

    class ImageNetRenormalize(nn.Module):
        def __init__(self):
            super().__init__()
            self.mean = torch.tensor([0.485, 0.456, 0.406]).view(1, -1, 1, 1)  # a plain attribute, as theirs

    class ResNetEncoder(nn.Module):
        def __init__(self, num_levels, w_size=16, hidden=32):
            super().__init__()
            self.num_levels = num_levels
            self.renorm = ImageNetRenormalize()
            self.backbone = torchvision.models.resnet18(weights=None)
            self.backbone.fc = nn.Sequential(
                nn.Linear(64 + 256 + 512, hidden),
                nn.LayerNorm(hidden),
                nn.LeakyReLU(0.2),
                nn.Linear(hidden, w_size * num_levels),
            )
            self.avgpool1 = nn.AdaptiveAvgPool2d(1)

    class DenseResBlock(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.impl = nn.Sequential(
                nn.Linear(channels, channels),
                nn.LayerNorm(channels, elementwise_affine=False),
                nn.LeakyReLU(0.2),
                nn.Linear(channels, channels),
            )

    class MLPApproximator(nn.Module):
        def __init__(self, w_size=16, dz_size=4, depth=3):
            super().__init__()
            self.impl = nn.Sequential(*[DenseResBlock(w_size + dz_size) for _ in range(depth)])
            self.out = nn.Linear(w_size + dz_size, w_size)

    for cls in (ImageNetRenormalize, ResNetEncoder, DenseResBlock, MLPApproximator):
        cls.__module__ = "inference.encoders"
        cls.__qualname__ = cls.__name__
        setattr(module, cls.__name__, cls)
    monkeypatch.setitem(sys.modules, "inference", package)
    monkeypatch.setitem(sys.modules, "inference.encoders", module)
    return module


@pytest.mark.filterwarnings("ignore:Couldn't retrieve source code")  # torch.save of our stand-in classes
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_pickled_encoder_and_network_a_convert(tmp_path, official_inference_module, legacy):
    from deeplandscape_hf.networks.dynamics import StyleDynamicsNet
    from deeplandscape_hf.networks.encoder import DeepLandscapeEncoder

    torch.manual_seed(0)
    encoder = official_inference_module.ResNetEncoder(num_levels=4).eval()
    mlp = official_inference_module.MLPApproximator().eval()
    save = dict(_use_new_zipfile_serialization=not legacy)
    torch.save(encoder, tmp_path / "encoder.pth", **save)
    torch.save(mlp, tmp_path / "mlp.pth", **save)
    checkpoint = tmp_path / "ckpt.model"
    torch.save(tiny_checkpoint(), checkpoint, **save)

    loaded = load_official_file(tmp_path / "encoder.pth")
    assert loaded.qualified_name == "inference.encoders.ResNetEncoder" and loaded.state["num_levels"] == 4
    assert module_state_dict(loaded).keys() == encoder.state_dict().keys()

    report = convert_official_checkpoint(
        checkpoint, tmp_path / "out", encoder=tmp_path / "encoder.pth", dynamics=tmp_path / "mlp.pth", w_avg_samples=16
    )
    assert any(c.startswith("encoder") for c in report.components)
    ours_e = DeepLandscapeEncoder.from_pretrained(tmp_path / "out", subfolder="encoder")
    assert ours_e.config.backbone == "resnet18" and ours_e.config.num_levels == 4
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        x01 = (images + 1) / 2
        normed = (x01 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
            [0.229, 0.224, 0.225]
        ).view(1, 3, 1, 1)
        b = encoder.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(normed))))
        x1 = b.layer1(x)
        x3 = b.layer3(b.layer2(x1))
        x4 = b.layer4(x3)
        feats = torch.cat([x1.mean((2, 3)), x3.mean((2, 3)), x4.mean((2, 3))], 1)
        theirs = b.fc(feats).view(2, 4, 16).repeat_interleave(2, dim=1)
        torch.testing.assert_close(ours_e(images), theirs, atol=1e-5, rtol=1e-5)

    ours_a = StyleDynamicsNet.from_pretrained(tmp_path / "out", subfolder="dynamics")
    w, target = torch.randn(5, 16), torch.randn(3)
    with torch.no_grad():
        x = torch.cat([w, target.expand(5, 3), torch.full((5, 1), 0.7)], 1)
        theirs = mlp.out(_mlp_impl(mlp, x))
        torch.testing.assert_close(ours_a(w, target, 0.7), theirs, atol=1e-5, rtol=1e-5)


def _mlp_impl(mlp: nn.Module, x: torch.Tensor) -> torch.Tensor:
    for block in mlp.impl:
        x = x + block.impl(x)
    return x


def test_cli_convert_official(tmp_path, monkeypatch, capsys):
    from deeplandscape_hf import cli
    from deeplandscape_hf.cli import main

    monkeypatch.setattr(cli, "COMMANDS", ("convert_official",))  # other commands may be missing in a partial tree

    path = tmp_path / "ckpt.model"
    torch.save(tiny_checkpoint(), path)
    assert main(["convert-official", str(path), "--out", str(tmp_path / "out"), "--w-avg-samples", "32"]) == 0
    assert DeepLandscapeGenerator.from_pretrained(tmp_path / "out").resolution == 32
    assert main(["convert-official", str(tmp_path / "missing.model"), "--out", str(tmp_path / "o2")]) == 2
    assert "missing.model" in capsys.readouterr().err
    assert main(["convert-official", str(path), "--out", str(tmp_path / "out")]) == 2  # exists already
    assert "already exists" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def test_pipeline_json_and_card(tmp_path):
    import json

    path = tmp_path / "ckpt.model"
    torch.save(tiny_checkpoint(), path)
    convert_official_checkpoint(path, tmp_path / "out", w_avg_samples=16)
    pipeline = json.loads((tmp_path / "out" / "pipeline.json").read_text())
    assert {key: pipeline[key] for key in ("resolution", "style_strength")} == {"resolution": 32, "style_strength": 0.7}
    # the authors' style names and targets go with their weights
    vocabulary = PipelineConfig.from_dict(pipeline).style_vocabulary()
    assert vocabulary.source == "authors" and vocabulary.reachable == tuple(STYLE_TARGETS)
    assert vocabulary.styles["warm_sunset"].z_dyn == STYLE_TARGETS["warm_sunset"]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "g_running" in card and "dropped" in card and Path(path).name in card


# ------------------------------------------------------------------------ sharing, fade-in, legacy, encoder size
def test_converted_folder_is_readable_by_other_users(tmp_path):
    import os
    import stat

    path = tmp_path / "ckpt.model"
    torch.save(tiny_checkpoint(), path)
    previous = os.umask(0o027)  # group may read, others nothing: the result must follow the umask, not 0700 / 0600
    try:
        convert_official_checkpoint(path, tmp_path / "group", w_avg_samples=16)
        os.umask(0o022)
        convert_official_checkpoint(path, tmp_path / "all", w_avg_samples=16)
    finally:
        os.umask(previous)
    for folder, dir_mode, file_mode in ((tmp_path / "group", 0o750, 0o640), (tmp_path / "all", 0o755, 0o644)):
        items = [folder, *folder.rglob("*")]
        assert any(item.name == "model.safetensors" for item in items)
        for item in items:
            expected = dir_mode if item.is_dir() else file_mode
            assert stat.S_IMODE(item.stat().st_mode) == expected, f"{item}: {oct(item.stat().st_mode)}"


def test_fade_in_alpha_is_recorded_and_rendered_as_the_authors_do(tmp_path):
    torch.manual_seed(0)
    checkpoint = {**tiny_checkpoint(step=3, fused_from_level=3), "alpha": 0.4}
    path = tmp_path / "fading.model"
    torch.save(checkpoint, path)
    convert_official_checkpoint(path, tmp_path / "out", w_avg_samples=16)
    model = DeepLandscapeGenerator.from_pretrained(tmp_path / "out")
    assert model.config.fade_in_alpha == pytest.approx(0.4)
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(2, 16, generator=generator)
    static, dynamic = model.make_noise(2, generator=generator)
    sd = checkpoint["g_running"]
    with torch.no_grad():
        ours = model(z, static, dynamic)  # no alpha given: the checkpoint's
        theirs = official_forward(sd, z, static, dynamic, step=3, mean_style=model.w_avg, psi=1.0, alpha=0.4)
        finished = official_forward(sd, z, static, dynamic, step=3, mean_style=model.w_avg, psi=1.0, alpha=1.0)
    assert (ours - theirs).abs().max() <= 1e-5 * max(1.0, theirs.abs().max().item())
    assert (ours - finished).abs().max() > 1e-2


def _legacy_backend_function():
    raise AssertionError("the converter must never call torch's thnn backend")


class _LegacyBackendObject:
    """Pickles as a call of torch.nn.backends.thnn._get_thnn_function_backend, as modules of torch 1.0-1.2 did."""

    def __reduce__(self):
        return _legacy_backend_function, ()


@pytest.mark.filterwarnings("ignore:Couldn't retrieve source code")
def test_module_pickle_naming_the_thnn_backend_converts(tmp_path, official_inference_module, monkeypatch):
    thnn = types.ModuleType("torch.nn.backends.thnn")
    thnn._get_thnn_function_backend = _legacy_backend_function
    _legacy_backend_function.__module__ = "torch.nn.backends.thnn"
    _legacy_backend_function.__qualname__ = "_get_thnn_function_backend"
    monkeypatch.setitem(sys.modules, "torch.nn.backends.thnn", thnn)
    torch.manual_seed(0)
    encoder = official_inference_module.ResNetEncoder(num_levels=4).eval()
    for module in encoder.modules():
        module._backend = _LegacyBackendObject()  # what torch <= 1.2 set in every nn.Module.__init__
    torch.save(encoder, tmp_path / "encoder.pth")
    assert b"_get_thnn_function_backend" in (tmp_path / "encoder.pth").read_bytes()
    torch.save(tiny_checkpoint(), tmp_path / "ckpt.model")

    convert_official_checkpoint(tmp_path / "ckpt.model", tmp_path / "out", encoder=tmp_path / "encoder.pth")
    from deeplandscape_hf.networks.encoder import DeepLandscapeEncoder

    ours = DeepLandscapeEncoder.from_pretrained(tmp_path / "out", subfolder="encoder")
    images = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert ours(images).shape == (1, 8, 16)
    # Only that one name is let through: anything else from the same module is still refused.
    thnn.other = _legacy_backend_function
    _legacy_backend_function.__qualname__ = "other"
    torch.save({"g_running": {}, "x": _LegacyBackendObject()}, tmp_path / "other.model")
    with pytest.raises(UnsafeCheckpointError, match="torch.nn.backends.thnn.other"):
        load_official_file(tmp_path / "other.model")


@pytest.mark.filterwarnings("ignore:Couldn't retrieve source code")
def test_512_px_encoder_is_fed_the_512_px_crop(tmp_path, official_inference_module):
    from deeplandscape_hf.animation.inversion import VARIANTS, initial_latents
    from deeplandscape_hf.networks.encoder import DeepLandscapeEncoder

    torch.manual_seed(0)
    torch.save(official_inference_module.ResNetEncoder(num_levels=8).eval(), tmp_path / "encoder.pth")
    torch.save(tiny_checkpoint(step=7), tmp_path / "ckpt.model")
    convert_official_checkpoint(
        tmp_path / "ckpt.model", tmp_path / "out", encoder=tmp_path / "encoder.pth", w_avg_samples=16
    )
    generator = DeepLandscapeGenerator.from_pretrained(tmp_path / "out")
    encoder = DeepLandscapeEncoder.from_pretrained(tmp_path / "out", subfolder="encoder")
    assert generator.resolution == 512 and encoder.config.image_size == 512
    seen = []
    encoder.register_forward_pre_hook(lambda module, inputs: seen.append(tuple(inputs[0].shape)))
    photo_crop = torch.rand(1, 3, 512, 512) * 2 - 1
    w_plus, _, _ = initial_latents(generator, photo_crop, VARIANTS["e"], encoder)
    assert seen == [(1, 3, 512, 512)] and w_plus.shape == (1, generator.num_ws, 16)
