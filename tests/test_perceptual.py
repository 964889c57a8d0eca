"""Perceptual losses: the paper's VGG19 structure and behaviour, real hub-cache loading, and clear offline errors.

No ImageNet weights are downloaded: behaviour is checked with random weights (explicitly requested), and the
loading path is exercised with small stand-in files placed in a temporary torch hub cache.
"""

from __future__ import annotations

import socket
import time

import pytest
import torch
from huggingface_hub import constants
from torch import nn

from deeplandscape_hf.animation.perceptual import (
    NoPerceptualLoss,
    PerceptualWeightsUnavailableError,
    VGGPerceptualLoss,
    make_perceptual_loss,
    torch_hub_checkpoint_dir,
)
from deeplandscape_hf.networks import hub


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
    from deeplandscape_hf.animation.perceptual import LPIPSLoss

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


@pytest.fixture
def no_network(tmp_path, monkeypatch):
    """HF_HUB_OFFLINE unset and an empty torch hub cache, with every download routed through a proxy that never
    answers (a local port whose one-slot accept queue is kept full), as on a machine whose packets go nowhere."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "NETWORK_PROBE_TIMEOUT_S", 1.0)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_download)
    hub.probe_host.cache_clear()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        with socket.create_connection(server.getsockname(), timeout=1):
            proxy = f"http://127.0.0.1:{server.getsockname()[1]}"
            for name in ("https_proxy", "http_proxy", "HTTPS_PROXY", "HTTP_PROXY"):
                monkeypatch.setenv(name, proxy)
            for name in ("no_proxy", "NO_PROXY"):
                monkeypatch.delenv(name, raising=False)
            yield
    hub.probe_host.cache_clear()


def _no_download(url, *args, **kwargs):
    raise AssertionError(f"a download of {url} was started although the network cannot be reached")


def test_auto_without_network_falls_back_to_l1_within_seconds(no_network):
    from deeplandscape_hf.animation.pipeline import DeepLandscapePipeline
    from deeplandscape_hf.networks.generator import DeepLandscapeGenerator, GeneratorConfig

    config = GeneratorConfig(resolution=8, channels=[8, 8], z_dim=8, w_dim=8, mapping_layers=1)
    pipe = DeepLandscapePipeline(DeepLandscapeGenerator(config))
    start = time.perf_counter()
    with pytest.warns(UserWarning, match="perceptual='auto': the VGG19 weights are not available") as caught:
        loss, name = pipe._perceptual_loss("auto")
    assert time.perf_counter() - start < 3.0  # 1 s probe; torch hub's own download would wait minutes
    assert (loss, name) == (None, "none")
    message = str(caught[0].message)
    assert "download.pytorch.org cannot be reached" in message and "vgg19-dcbb9e9d.pth" in message
    assert "perceptual none" not in message  # the error's way around it is the one this warning has taken


def test_explicit_vgg_without_network_says_the_server_cannot_be_reached(no_network):
    with pytest.raises(PerceptualWeightsUnavailableError, match="download.pytorch.org cannot be reached"):
        VGGPerceptualLoss(allow_download=True)
