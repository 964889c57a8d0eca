"""Perceptual losses: the paper's VGG19 structure and behaviour, real hub-cache loading, and clear offline errors.

No ImageNet weights are downloaded: behaviour is checked with random weights (explicitly requested), and the
loading path is exercised with small stand-in files placed in a temporary torch hub cache.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deeplandscape_hf.perceptual import (
    NoPerceptualLoss,
    PerceptualWeightsUnavailableError,
    VGGPerceptualLoss,
    make_perceptual_loss,
    torch_hub_checkpoint_dir,
)


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    """A torch hub cache with nothing in it, as on a fresh offline machine."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "torch_home"


@pytest.fixture(scope="module")
def random_vgg() -> VGGPerceptualLoss:
    return VGGPerceptualLoss(weights=None)


def _images(batch: int = 2, size: int = 16, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=generator) * 2 - 1


def test_structure_is_vgg19_to_relu5_1_with_average_pools(random_vgg):
    layers = list(random_vgg.features)
    assert len(layers) == 30  # features[:30]
    assert random_vgg.num_relus == 13
    assert sum(isinstance(layer, nn.AvgPool2d) for layer in layers) == 4
    assert not any(isinstance(layer, nn.MaxPool2d) for layer in layers)
    assert isinstance(layers[-1], nn.ReLU) and layers[-2].out_channels == 512  # ends at relu5_1
    assert len(random_vgg.relu_features(_images(1))) == 13


def test_loss_is_zero_for_identical_images_and_positive_otherwise(random_vgg):
    x, y = _images(seed=0), _images(seed=1)
    same = random_vgg(x, x)
    different = random_vgg(x, y)
    assert same.shape == (2,) and different.shape == (2,)
    assert torch.allclose(same, torch.zeros(2))
    assert (different > 0).all()
    # per-sample: changing only sample 1 leaves sample 0's loss at zero
    mixed = x.clone()
    mixed[1] = y[1]
    per_sample = random_vgg(mixed, x)
    assert per_sample[0] == 0 and per_sample[1] > 0


def test_gradients_reach_the_input_only(random_vgg):
    x = _images(seed=2).requires_grad_(True)
    target = _images(seed=3).requires_grad_(True)
    random_vgg(x, target).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert target.grad is None  # detached, as in the official loss
    assert all(not p.requires_grad and p.grad is None for p in random_vgg.parameters())
    random_vgg.train()
    assert not random_vgg.training  # stays frozen in eval mode


def test_offline_without_cached_weights_says_which_file_and_what_to_do(empty_torch_home):
    with pytest.raises(PerceptualWeightsUnavailableError) as info:
        VGGPerceptualLoss()
    message = str(info.value)
    assert "vgg19-dcbb9e9d.pth" in message
    assert str(empty_torch_home / "hub" / "checkpoints") in message
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in message
    assert "--perceptual none" in message
    with pytest.raises(PerceptualWeightsUnavailableError, match="downloading is off"):
        make_perceptual_loss("vgg", allow_download=False)


def test_imagenet_weights_load_from_the_torch_hub_cache(empty_torch_home):
    """A file with torchvision's name and key layout in the cache is picked up through the real loading path."""
    donor = VGGPerceptualLoss(weights=None)
    state = {f"features.{key}": value.half() for key, value in donor.features.state_dict().items()}
    checkpoints = torch_hub_checkpoint_dir()
    assert checkpoints == empty_torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(state, checkpoints / "vgg19-dcbb9e9d.pth")
    loaded = VGGPerceptualLoss(weights="imagenet")
    assert torch.equal(loaded.features[0].weight, donor.features[0].weight.half().float())
    assert torch.equal(loaded.features[28].bias, donor.features[28].bias.half().float())


def test_lpips_uses_packaged_heads_and_a_cached_trunk(empty_torch_home):
    pytest.importorskip("lpips")
    from deeplandscape_hf.perceptual import LPIPSLoss

    with pytest.raises(PerceptualWeightsUnavailableError, match=r"alexnet-owt-7be5be79\.pth"):
        LPIPSLoss(net="alex")
    # Stand-in trunk with torchvision's AlexNet `features` layout (conv indices 0, 3, 6, 8, 10).
    shapes = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3), 10: (256, 256, 3, 3)}
    state = {}
    for index, shape in shapes.items():
        state[f"features.{index}.weight"] = torch.randn(shape) * 0.05
        state[f"features.{index}.bias"] = torch.zeros(shape[0])
    torch_hub_checkpoint_dir().mkdir(parents=True)
    torch.save(state, torch_hub_checkpoint_dir() / "alexnet-owt-7be5be79.pth")
    metric = LPIPSLoss(net="alex")
    assert torch.equal(metric.model.net.slice1[0].weight, state["features.0.weight"])
    x, y = _images(size=32, seed=4), _images(size=32, seed=5)
    assert torch.allclose(metric(x, x), torch.zeros(2))
    distance = metric(x, y)
    assert distance.shape == (2,) and (distance > 0).all()
    assert all(not p.requires_grad for p in metric.parameters())


def test_factory_none_warns_and_returns_zeros_and_unknown_kinds_fail():
    with pytest.warns(UserWarning, match="L1 only"):
        none = make_perceptual_loss("none")
    assert isinstance(none, NoPerceptualLoss)
    assert torch.equal(none(_images(), _images(seed=9)), torch.zeros(2))
    assert isinstance(make_perceptual_loss("vgg", weights=None), VGGPerceptualLoss)
    with pytest.raises(ValueError, match="'vgg', 'lpips' or 'none'"):
        make_perceptual_loss("ssim")  # type: ignore[arg-type]
