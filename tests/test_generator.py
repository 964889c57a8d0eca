import math

import pytest
import torch
import torch.nn.functional as F

from deeplandscape_hf import DeepLandscapeGenerator, GeneratorConfig
from deeplandscape_hf.networks.hub import CheckpointMismatchError, IncompleteModelError
from deeplandscape_hf.networks.layers import AdaIN, EqualConv2d, EqualLinear, NoiseInjection


def tiny_config(resolution: int = 16, **overrides) -> GeneratorConfig:
    return GeneratorConfig(
        resolution=resolution,
        channels=[16, 16, 8, 8, 8, 8],
        z_dim=32,
        w_dim=16,
        mapping_layers=2,
        fused_from_resolution=16,
        **overrides,
    )


def randomize_noise_weights(model: DeepLandscapeGenerator) -> None:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, NoiseInjection):
                module.weight.normal_()


@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_output_shapes(resolution):
    model = DeepLandscapeGenerator(tiny_config(resolution))
    images = model(torch.randn(3, 32))
    assert images.shape == (3, 3, resolution, resolution)
    assert model.num_ws == 2 * (int(math.log2(resolution)) - 1)


def test_progressive_levels_and_alpha(generator):
    model = DeepLandscapeGenerator(tiny_config(32)).eval()
    z = torch.randn(2, 32, generator=generator)
    w_plus = model.broadcast_w(model.map(z))
    static, dynamic = model.make_noise(2, generator=generator)
    for level in range(model.num_levels):
        out = model.synthesize(w_plus, static[: level + 1], dynamic[: level + 1], level=level)
        assert out.shape[-1] == 4 * 2**level
    plain = model.synthesize(w_plus, static, dynamic, level=2)
    assert torch.equal(model.synthesize(w_plus, static, dynamic, level=2, alpha=1.0), plain)
    faded = model.synthesize(w_plus, static, dynamic, level=2, alpha=0.0)
    previous = model.synthesize(w_plus, static, dynamic, level=1)
    torch.testing.assert_close(faded, F.interpolate(previous, scale_factor=2, mode="nearest"))
    half = model.synthesize(w_plus, static, dynamic, level=2, alpha=0.5)
    torch.testing.assert_close(half, 0.5 * (faded + plain))


def test_equalized_scales():
    linear, conv = EqualLinear(48, 7), EqualConv2d(6, 5, 3)
    assert linear.scale == pytest.approx(math.sqrt(2 / 48))
    assert conv.scale == pytest.approx(math.sqrt(2 / (6 * 9)))
    x = torch.randn(2, 48)
    torch.testing.assert_close(linear(x), x @ (linear.weight * math.sqrt(2 / 48)).T + linear.bias)
    assert NoiseInjection(12).scale == pytest.approx(math.sqrt(2 / 12))  # the authors' fan_in = C


def test_adain_starts_identity_like():
    adain = AdaIN(8, 16)
    with torch.no_grad():
        adain.style.weight.zero_()  # isolate the bias: gamma 1, beta 0
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(adain(x, torch.randn(2, 16)), F.instance_norm(x))
    gamma, beta = adain.style.bias.chunk(2)
    assert torch.all(gamma == 1) and torch.all(beta == 0)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_adain_is_the_instance_norm_formula_in_either_layout(batch, layout):
    torch.manual_seed(0)
    adain = AdaIN(8, 16)
    x = (3 * torch.randn(batch, 8, 6, 7) + 2).contiguous(memory_format=layout).requires_grad_(True)
    w = torch.randn(batch, 16, requires_grad=True)
    gamma, beta = adain.style(w)[:, :, None, None].chunk(2, dim=1)
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
    expected = gamma * (x - mean) / torch.sqrt(var + adain.eps) + beta
    out = adain(x, w)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert out.is_contiguous(memory_format=layout)  # the next convolution keeps its layout without a copy
    out.square().sum().backward()
    assert x.grad.abs().sum() > 0 and w.grad.abs().sum() > 0


def test_noise_has_no_effect_until_weights_learned(generator):
    model = DeepLandscapeGenerator(tiny_config(16)).eval()
    w_plus = model.broadcast_w(model.map(torch.randn(1, 32, generator=generator)))
    static, dynamic = model.make_noise(1, generator=generator)
    static2, dynamic2 = model.make_noise(1, generator=generator)
    base = model.synthesize(w_plus, static, dynamic)
    assert torch.equal(base, model.synthesize(w_plus, static2, dynamic2))
    randomize_noise_weights(model)
    base = model.synthesize(w_plus, static, dynamic)
    assert (base - model.synthesize(w_plus, static2, dynamic)).abs().max() > 1e-3
    assert (base - model.synthesize(w_plus, static, dynamic2)).abs().max() > 1e-3


def test_w_plus_path_equals_z_path(generator):
    model = DeepLandscapeGenerator(tiny_config(16)).eval()
    z = torch.randn(2, 32, generator=generator)
    static, dynamic = model.make_noise(2, generator=generator)
    from_z = model(z, static, dynamic, truncation=0.7)
    w = model.truncate(model.map(z), 0.7)
    w_plus = w[:, None].repeat(1, model.num_ws, 1)
    torch.testing.assert_close(model.synthesize(w_plus, static, dynamic), from_z)


def test_truncation_pulls_toward_w_avg(generator):
    model = DeepLandscapeGenerator(tiny_config(8))
    model.compute_w_avg(num_samples=512, seed=0)
    with torch.no_grad():
        w = model.map(torch.randn(4, 32, generator=generator))
    assert torch.allclose(model.truncate(w, 0.0), model.w_avg.expand_as(w))
    assert (model.truncate(w, 0.5) - model.w_avg).norm() == pytest.approx(
        0.5 * (w - model.w_avg).norm().item(), rel=1e-5
    )


def test_style_mixing_changes_only_upper_levels(generator):
    model = DeepLandscapeGenerator(tiny_config(16))
    w1, w2 = model.map(torch.randn(2, 32, generator=generator)).chunk(2)
    mixed = model.mix_styles(model.broadcast_w(w1), w2, crossover_level=0)
    assert torch.equal(mixed[:, :2], model.broadcast_w(w1)[:, :2])
    assert torch.allclose(mixed[0, 2:], w2[0].expand(model.num_ws - 2, -1))


def test_z_split_is_last_coordinates():
    model = DeepLandscapeGenerator(tiny_config(8))
    z = torch.arange(32.0)[None]
    z_static, z_dynamic = model.split_z(z)
    assert z_dynamic.tolist() == [[29.0, 30.0, 31.0]]
    assert torch.equal(model.join_z(z_static, z_dynamic), z)


def test_official_parameter_count():
    """The authors' generator object (always built to 1024 px) has ~26.26 M values incl. 36,576 blur buffer values."""
    model = DeepLandscapeGenerator(GeneratorConfig(resolution=1024))
    parameters = sum(p.numel() for p in model.parameters())
    assert parameters + 36_576 == pytest.approx(26.26e6, rel=1e-3)
    # 157 official keys, less 2 blur buffers in each of the 8 upsampling blocks, plus our saved w_avg
    assert len(model.state_dict()) == 157 - 2 * 8 + 1


@pytest.mark.parametrize(
    "bad_call, message",
    [
        (lambda m: m(torch.randn(2, 31)), "z must have shape"),
        (lambda m: m(torch.randn(2, 32, 1)), "z must have shape"),
        (lambda m: m.synthesize(torch.randn(1, m.num_ws, 16), *m.make_noise(1, level=1)), "one map per level"),
        (lambda m: m.synthesize(torch.randn(1, 3, 16), *m.make_noise(1)), "w_plus must have shape"),
        (lambda m: m(torch.randn(1, 32), level=7), "level must be in"),
    ],
)
def test_bad_input_raises(bad_call, message):
    model = DeepLandscapeGenerator(tiny_config(16))
    with pytest.raises(ValueError, match=message):
        bad_call(model)


def test_unsupported_resolution():
    with pytest.raises(ValueError, match="resolution must be one of"):
        GeneratorConfig(resolution=100)
    with pytest.raises(ValueError, match="one entry per level"):
        GeneratorConfig(resolution=64, channels=[8, 8])


def test_noise_map_of_wrong_size_is_rejected():
    model = DeepLandscapeGenerator(tiny_config(16))
    static, dynamic = model.make_noise(1)
    dynamic[1] = torch.randn(1, 1, 9, 9)
    with pytest.raises(ValueError, match=r"dynamic_noise\[1\]"):
        model.synthesize(model.broadcast_w(model.map(torch.randn(1, 32))), static, dynamic)


def test_round_trip_folder_and_subfolder(tmp_path, generator):
    model = DeepLandscapeGenerator(tiny_config(16))
    randomize_noise_weights(model)
    model.compute_w_avg(num_samples=64)
    model.save_pretrained(tmp_path / "repo")
    model.save_pretrained(tmp_path / "repo2" / "generator")
    for loaded in (
        DeepLandscapeGenerator.from_pretrained(tmp_path / "repo"),
        DeepLandscapeGenerator.from_pretrained(tmp_path / "repo2", subfolder="generator"),
    ):
        assert loaded.config == model.config
        assert not loaded.training
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key


def test_wrong_shape_checkpoint_fails_clearly(tmp_path):
    DeepLandscapeGenerator(tiny_config(16)).save_pretrained(tmp_path)
    config_file = tmp_path / "config.json"
    config_file.write_text(config_file.read_text().replace('"w_dim": 16', '"w_dim": 24'))
    with pytest.raises(CheckpointMismatchError, match="wrong shapes: .*mapping"):
        DeepLandscapeGenerator.from_pretrained(tmp_path)


def test_nearest_upsample_conv_equals_upsample_then_conv(generator):
    from deeplandscape_hf.networks.layers import NearestUpsampleConv2d

    layer = NearestUpsampleConv2d(6, 5)
    x = torch.randn(2, 6, 7, 9, generator=generator)
    reference = F.conv2d(
        F.interpolate(x, scale_factor=2, mode="nearest"), layer.weight * layer.scale, layer.bias, padding=1
    )
    torch.testing.assert_close(layer(x), reference, atol=1e-5, rtol=1e-5)


def test_adain_matches_instance_norm_reference(generator):
    adain = AdaIN(8, 16)
    x, w = torch.randn(3, 8, 6, 6, generator=generator) * 3 + 1, torch.randn(3, 16, generator=generator)
    gamma, beta = adain.style(w)[:, :, None, None].chunk(2, dim=1)
    torch.testing.assert_close(adain(x, w), gamma * F.instance_norm(x) + beta, atol=1e-5, rtol=1e-5)


def test_sharded_weights_load_like_one_file(tmp_path):
    from safetensors.torch import load_file, save_file

    model = DeepLandscapeGenerator(tiny_config(16))
    model.save_pretrained(tmp_path)
    weights = load_file(str(tmp_path / "model.safetensors"))
    keys = sorted(weights)
    save_file({k: weights[k] for k in keys[::2]}, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file({k: weights[k] for k in keys[1::2]}, str(tmp_path / "model-00002-of-00002.safetensors"))
    (tmp_path / "model.safetensors").unlink()
    loaded = DeepLandscapeGenerator.from_pretrained(tmp_path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(IncompleteModelError, match="lacks weight shard.s. 2 of 2"):  # named, not "missing keys"
        DeepLandscapeGenerator.from_pretrained(tmp_path)


def test_rgb_init_gain_scales_fresh_outputs_and_never_loaded_weights():
    torch.manual_seed(0)
    official_init = DeepLandscapeGenerator(tiny_config())
    torch.manual_seed(0)
    small_init = DeepLandscapeGenerator(tiny_config(rgb_init_gain=0.15))
    z = torch.randn(4, 32)
    static, dynamic = official_init.make_noise(4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = official_init(z, static, dynamic)
        # to-RGB is linear with a zero bias at init, so the whole fresh output shrinks by the gain.
        torch.testing.assert_close(small_init(z, static, dynamic), 0.15 * reference)
        small_init.load_state_dict(official_init.state_dict())
        torch.testing.assert_close(small_init(z, static, dynamic), reference)
