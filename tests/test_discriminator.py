import math

import pytest
import torch
import torch.nn.functional as F

from deeplandscape_hf.networks.discriminator import DiscriminatorConfig, ImageDiscriminator, PairwiseDiscriminator

TINY_CHANNELS = [16, 16, 16, 16, 8]  # levels 0 (4 px) .. 4 (64 px)


def make_d(cls=ImageDiscriminator, resolution: int = 32, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    frames = 2 if cls is PairwiseDiscriminator else 1
    return cls(DiscriminatorConfig(resolution=resolution, channels=TINY_CHANNELS, frames=frames, **kwargs))


def images(batch: int, size: int, seed: int = 1, frames: int | None = None) -> torch.Tensor:
    shape = (batch, 3, size, size) if frames is None else (batch, frames, 3, size, size)
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).clamp(-1, 1)


def _equal_lr(weight: torch.Tensor) -> torch.Tensor:
    return weight * math.sqrt(2 / weight[0].numel())


def reference_image_d(d: ImageDiscriminator, x: torch.Tensor, level: int) -> torch.Tensor:
    """The authors' image D (official model.py Discriminator) written with plain functional ops and raw weights."""
    sd = d.state_dict()
    blur = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    h = F.conv2d(x, _equal_lr(sd[f"from_rgb.{level}.weight"]), sd[f"from_rgb.{level}.bias"])
    for current in range(level, 0, -1):
        p = f"blocks.{current}."
        h = F.leaky_relu(F.conv2d(h, _equal_lr(sd[p + "conv1.weight"]), sd[p + "conv1.bias"], padding=1), 0.2)
        h = F.conv2d(h, blur.expand(h.shape[1], 1, 3, 3), padding=1, groups=h.shape[1])
        weight = _equal_lr(sd[p + "conv2.weight"])
        if 4 * 2**current >= d.config.fused_from_resolution:  # fused: box-filtered 4x4 kernel, stride 2
            weight = F.pad(weight, [1, 1, 1, 1])
            weight = (weight[..., 1:, 1:] + weight[..., :-1, 1:] + weight[..., 1:, :-1] + weight[..., :-1, :-1]) / 4
            h = F.conv2d(h, weight, sd[p + "conv2.bias"], stride=2, padding=1)
        else:
            h = F.avg_pool2d(F.conv2d(h, weight, sd[p + "conv2.bias"], padding=1), 2)
        h = F.leaky_relu(h, 0.2)
    std = torch.sqrt(h.var(0, unbiased=False) + 1e-8).mean()
    h = torch.cat([h, std.expand(h.shape[0], 1, 4, 4)], 1)
    h = F.leaky_relu(F.conv2d(h, _equal_lr(sd["blocks.0.conv1.weight"]), sd["blocks.0.conv1.bias"], padding=1), 0.2)
    h = F.leaky_relu(F.conv2d(h, _equal_lr(sd["blocks.0.conv2.weight"]), sd["blocks.0.conv2.bias"]), 0.2)
    return F.linear(h.flatten(1), _equal_lr(sd["blocks.0.linear.weight"]), sd["blocks.0.linear.bias"])


@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_output_shapes_at_several_resolutions(resolution):
    image_d, pair_d = make_d(resolution=resolution), make_d(PairwiseDiscriminator, resolution=resolution)
    out_image = image_d(images(3, resolution))
    out_pair = pair_d(images(3, resolution, frames=2))
    assert out_image.shape == out_pair.shape == (3, 1)
    assert torch.isfinite(out_image).all() and torch.isfinite(out_pair).all()
    assert len(image_d.blocks) == len(image_d.from_rgb) == int(math.log2(resolution)) - 1


def test_lower_levels_take_smaller_inputs():
    d = make_d(resolution=32)
    for level, size in enumerate([4, 8, 16, 32]):
        assert d(images(2, size), level=level).shape == (2, 1)
    x = images(2, 32)
    assert torch.equal(d(x), d(x, level=3))  # default entry is the full resolution


def test_matches_the_official_layer_order_on_fused_and_plain_blocks():
    d = make_d(resolution=16, fused_from_resolution=16)  # level 2 (16 px) fused, level 1 (8 px) conv + avg-pool
    assert [getattr(block, "fused", None) for block in d.blocks] == [None, False, True]
    x = images(4, 16)
    with torch.no_grad():
        torch.testing.assert_close(d(x), reference_image_d(d, x, level=2), rtol=0, atol=1e-5)
        torch.testing.assert_close(d(x[:, :, ::2, ::2], level=1), reference_image_d(d, x[:, :, ::2, ::2], 1))


def test_alpha_one_is_the_plain_path_and_alpha_zero_the_pooled_lower_entry():
    for cls, frames in ((ImageDiscriminator, None), (PairwiseDiscriminator, 2)):
        d = make_d(cls, resolution=32)
        x = images(3, 32, frames=frames)
        pooled = F.avg_pool2d(x.reshape(-1, 3, 32, 32), 2).reshape(*x.shape[:-2], 16, 16)
        plain = d(x, level=3)
        assert torch.equal(d(x, level=3, alpha=1.0), plain)
        torch.testing.assert_close(d(x, level=3, alpha=0.0), d(pooled, level=2), rtol=0, atol=1e-6)
        halfway = d(x, level=3, alpha=0.5)
        assert not torch.allclose(halfway, plain) and not torch.allclose(halfway, d(pooled, level=2))


def test_alpha_is_ignored_at_level_zero():
    d = make_d(resolution=8)
    x = images(3, 4)
    assert torch.equal(d(x, level=0, alpha=0.25), d(x, level=0))


def test_pairwise_from_rgb_is_shared_and_concatenates_frame_zero_first():
    d = make_d(PairwiseDiscriminator, resolution=16)
    # one from-RGB per level with half the channels: the same weights see both frames
    assert [tuple(conv.weight.shape) for conv in d.from_rgb] == [(8, 3, 1, 1), (8, 3, 1, 1), (8, 3, 1, 1)]
    pairs = images(3, 16, frames=2)
    with torch.no_grad():
        h = torch.cat([d.from_rgb[2](pairs[:, 0]), d.from_rgb[2](pairs[:, 1])], dim=1)
        for level in (2, 1, 0):
            h = d.blocks[level](h)
        torch.testing.assert_close(d(pairs), h, rtol=0, atol=1e-6)

        out = d(pairs)
        perturbed = pairs.clone()
        perturbed[:, 1, :, :4, :4] += 0.5
        assert not torch.allclose(d(perturbed), out)
        swapped = pairs.flip(1)
        assert not torch.allclose(d(swapped), out, atol=1e-4)  # order-sensitive concatenation


def test_minibatch_std_couples_the_batch():
    d = make_d(resolution=8)
    x = images(4, 8)
    out = d(x)
    y = x.clone()
    y[3] = -y[3]
    assert torch.equal(d(x[:1]), d(x[:1]))
    assert not torch.allclose(d(y)[:3], out[:3])  # sample 3 changed only the shared std channel of samples 0-2


def test_gradient_reaches_the_input_for_r1():
    d = make_d(PairwiseDiscriminator, resolution=8)
    pairs = images(2, 8, frames=2).requires_grad_(True)
    (grad,) = torch.autograd.grad(d(pairs).sum(), pairs, create_graph=True)
    assert grad.shape == pairs.shape and grad.abs().sum() > 0
    grad.pow(2).sum().backward()  # R1 needs a double backward through Blur / fused convs
    grads = {name: p.grad for name, p in d.named_parameters()}
    assert grads["from_rgb.0.weight"] is None  # the 4 px entry is not on the path of an 8 px input at alpha = 1
    used_weights = [name for name in grads if name.endswith("weight") and name != "from_rgb.0.weight"]
    assert all(grads[name] is not None and grads[name].abs().sum() > 0 for name in used_weights)


def test_state_dict_names_the_converter_maps_to():
    keys = list(make_d(resolution=8).state_dict())
    assert keys == [
        "from_rgb.0.weight", "from_rgb.0.bias", "from_rgb.1.weight", "from_rgb.1.bias",
        "blocks.0.conv1.weight", "blocks.0.conv1.bias", "blocks.0.conv2.weight", "blocks.0.conv2.bias",
        "blocks.0.linear.weight", "blocks.0.linear.bias",
        "blocks.1.conv1.weight", "blocks.1.conv1.bias", "blocks.1.conv2.weight", "blocks.1.conv2.bias",
    ]  # fmt: skip


def test_official_sizes_and_parameter_counts():
    image_d = ImageDiscriminator(DiscriminatorConfig())
    pair_d = PairwiseDiscriminator(DiscriminatorConfig(frames=2))
    assert image_d.config.channels == [512, 512, 512, 512, 256, 128, 64, 32, 16]
    assert [conv.weight.shape[0] for conv in image_d.from_rgb] == [512, 512, 512, 512, 256, 128, 64]
    assert [conv.weight.shape[0] for conv in pair_d.from_rgb] == [256, 256, 256, 256, 128, 64, 32]
    assert [tuple(b.conv1.weight.shape[:2]) for b in image_d.blocks] == [
        (512, 513), (512, 512), (512, 512), (512, 512), (512, 256), (256, 128), (128, 64)
    ]  # fmt: skip
    assert tuple(image_d.blocks[0].conv2.weight.shape) == (512, 512, 4, 4)
    assert [getattr(b, "fused", None) for b in image_d.blocks] == [None, False, False, False, False, True, True]
    # blocks 25,365,249 (hand count from the authors' code) + from-RGB 4 * 2496 (image) or 2 * 2496 (pairwise)
    assert sum(p.numel() for p in image_d.parameters()) == 25_375_233
    assert sum(p.numel() for p in pair_d.parameters()) == 25_370_241


@pytest.mark.parametrize(
    ("bad_input", "kwargs", "match"),
    [
        (torch.zeros(2, 3, 32), {}, "shape"),
        (torch.zeros(2, 4, 32, 32), {}, "shape"),
        (torch.zeros(2, 3, 16, 16), {}, "level 3 takes 32x32"),
        (torch.zeros(2, 3, 16, 32), {"level": 3}, "32x32"),
        (torch.zeros(2, 3, 32, 32), {"level": 4}, "level must be"),
        (torch.zeros(2, 3, 32, 32), {"level": -1}, "level must be"),
        (torch.zeros(2, 3, 32, 32), {"alpha": 1.5}, "alpha"),
    ],
)
def test_image_input_checks(bad_input, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_d(resolution=32)(bad_input, **kwargs)


def test_pairwise_input_checks():
    d = make_d(PairwiseDiscriminator, resolution=8)
    for bad in (torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 3, 8, 8), torch.zeros(2, 2, 1, 8, 8)):
        with pytest.raises(ValueError, match="pairs must have shape"):
            d(bad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"resolution": 48}, "power of two"),
        ({"resolution": 2}, "power of two"),
        ({"resolution": 64, "channels": [8, 8, 8]}, "at least 5"),
        ({"resolution": 8, "channels": [8, 0]}, "positive"),
        ({"resolution": 8, "channels": [8, 6], "frames": 4}, "divisible"),
        ({"frames": 0}, "frames"),
        ({"fused_from_resolution": 0}, "fused_from_resolution"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DiscriminatorConfig(**kwargs)


def test_classes_check_their_frame_count():
    with pytest.raises(ValueError, match="PairwiseDiscriminator"):
        ImageDiscriminator(DiscriminatorConfig(resolution=8, channels=[8, 8], frames=2))
    with pytest.raises(ValueError, match="frames=2"):
        PairwiseDiscriminator(DiscriminatorConfig(resolution=8, channels=[8, 8]))
