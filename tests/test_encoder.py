import math
import urllib.error

import pytest
import torch
import torch.nn.functional as F
import torchvision

from deeplandscape_hf.networks.encoder import (
    BackboneWeightsUnavailableError,
    DeepLandscapeEncoder,
    EncoderConfig,
    default_backbone,
)

RESNET18_FILE = "resnet18-f37072fd.pth"  # torchvision ResNet18_Weights.IMAGENET1K_V1


def tiny_encoder(seed: int = 0, **kwargs) -> DeepLandscapeEncoder:
    torch.manual_seed(seed)
    options = dict(backbone="resnet18", num_levels=3, hidden=32, pretrained_backbone=False, image_size=64)
    return DeepLandscapeEncoder(EncoderConfig(**{**options, **kwargs})).eval()


def photos(batch: int = 2, height: int = 64, width: int = 64) -> torch.Tensor:
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(3)) * 2 - 1


def test_per_level_output_duplicates_each_levels_w():
    encoder = tiny_encoder()
    with torch.no_grad():
        w_plus = encoder(photos())
    assert w_plus.shape == (2, 6, 512) and encoder.config.num_ws == 6
    for level in range(3):
        assert torch.equal(w_plus[:, 2 * level], w_plus[:, 2 * level + 1])
    assert not torch.allclose(w_plus[:, 0], w_plus[:, 2])
    assert not torch.allclose(w_plus[0], w_plus[1])  # depends on the photo
    assert encoder.head[-1].out_features == 3 * 512


def test_per_adain_output_predicts_every_w():
    encoder = tiny_encoder(per_level=False, w_dim=16)
    with torch.no_grad():
        w_plus = encoder(photos(1))
    assert w_plus.shape == (1, 6, 16) and encoder.head[-1].out_features == 6 * 16
    assert not torch.allclose(w_plus[:, 0], w_plus[:, 1])


def test_pooled_feature_width_follows_the_backbone():
    assert tiny_encoder().feature_dim == 64 + 256 + 512
    assert tiny_encoder(backbone="resnet50").feature_dim == 256 + 1024 + 2048  # 3328, as the official resnet152


def test_imagenet_renormalisation():
    encoder = tiny_encoder()
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    grey = encoder._normalize(torch.zeros(1, 3, 2, 2))  # 0 in [-1, 1] is 0.5 in [0, 1]
    black = encoder._normalize(-torch.ones(1, 3, 2, 2))
    torch.testing.assert_close(grey[0, :, 0, 0], (0.5 - mean) / std)
    torch.testing.assert_close(black[0, :, 0, 0], -mean / std)


def test_set_output_bias_centres_an_untrained_encoder_on_the_mean_style():
    encoder = tiny_encoder()
    w_avg = torch.linspace(-1, 1, 512)
    encoder.set_output_bias(w_avg[None])
    torch.testing.assert_close(encoder.head[-1].bias, w_avg.repeat(3), rtol=0, atol=0)
    with torch.no_grad():
        encoder.head[-1].weight.zero_()
        w_plus = encoder(photos())
    torch.testing.assert_close(w_plus, w_avg.expand(2, 6, 512), rtol=0, atol=0)
    with pytest.raises(ValueError, match="w_avg must have shape"):
        encoder.set_output_bias(torch.zeros(3, 512))


def test_resize_option_and_input_checks():
    encoder = tiny_encoder()
    x = photos(1, 48, 80)
    with torch.no_grad():
        resized = F.interpolate(x, size=(64, 64), mode="bicubic", align_corners=False, antialias=True)
        torch.testing.assert_close(encoder(x, resize=True), encoder(resized))
        assert encoder(x).shape == (1, 6, 512)  # the authors feed other sizes as they come
    for bad in (torch.zeros(1, 3, 16, 64), torch.zeros(1, 1, 64, 64), torch.zeros(3, 64, 64)):
        with pytest.raises(ValueError, match="images"):
            encoder(bad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backbone": "vgg16"}, "backbone must be one of"),
        ({"num_levels": 0}, "num_levels"),
        ({"hidden": 2.5}, "hidden"),
        ({"image_size": 16}, "image_size"),
        ({"per_level": 1}, "per_level"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EncoderConfig(**kwargs)


def test_missing_imagenet_weights_offline_give_a_clear_error(tmp_path, monkeypatch):
    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("no network")  # also offline on machines that have a network

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(BackboneWeightsUnavailableError) as info:
        DeepLandscapeEncoder(EncoderConfig(backbone="resnet18", pretrained_backbone=True))
    message = str(info.value)
    assert RESNET18_FILE in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert "pretrained_backbone=False" in message and "from_pretrained" in message
    assert isinstance(info.value, FileNotFoundError)


def test_cached_imagenet_weights_are_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(7)
    cached = torchvision.models.resnet18().state_dict()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(cached, tmp_path / "hub" / "checkpoints" / RESNET18_FILE)
    encoder = DeepLandscapeEncoder(EncoderConfig(backbone="resnet18", num_levels=2, hidden=16))
    trunk = encoder.backbone.state_dict()
    assert all(torch.equal(trunk[key], cached[key]) for key in trunk)
    assert "fc.weight" not in trunk  # the ImageNet classifier is dropped


def _default_encoder_megabytes(resolution: int) -> float:
    """float32 size of the encoder train_accelerate.py builds by default for a generator of this resolution."""
    config = EncoderConfig(
        backbone=default_backbone(resolution),
        num_levels=int(math.log2(resolution)) - 1,
        pretrained_backbone=False,
        image_size=max(32, min(256, resolution)),
    )
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        encoder = DeepLandscapeEncoder(config)
    return sum(p.numel() for p in encoder.parameters()) * 4 / 1e6


@pytest.mark.parametrize(
    "resolution, backbone, low_mb, high_mb",
    [(16, "resnet18", 55, 70), (64, "resnet18", 65, 80), (128, "resnet34", 105, 125), (256, "resnet152", 270, 310)],
)
def test_encoder_size_follows_the_generator_resolution(resolution, backbone, low_mb, high_mb):
    # the authors' ResNet-152 (about 290 MB in float32 with its head) from 256 px; small generators get a small trunk
    assert default_backbone(resolution) == backbone
    assert low_mb < _default_encoder_megabytes(resolution) < high_mb


def test_default_backbone_rejects_a_bad_resolution():
    with pytest.raises(ValueError, match="resolution"):
        default_backbone(0)
