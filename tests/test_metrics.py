"""Metrics: SSIM/LPIPS, Frechet distances (FID/FVD), optical-flow motion amount, per-video report and Table 2 layout.

Networks are tiny random modules injected in place of the pretrained ones (no weights exist offline); the pretrained
loaders are tested for the clear error they must raise when their files are missing.
"""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deeplandscape_hf.evaluation.metrics import (
    FeatureStatistics,
    InceptionPool3,
    LPIPSMetric,
    MissingWeightsError,
    R2Plus1DFeatures,
    compute_statistics,
    evaluate_animation,
    fid,
    flow_between,
    format_markdown_table,
    frechet_distance,
    fvd,
    inversion_table_rows,
    load_lpips,
    masked_lpips,
    masked_ssim,
    motion_amount,
    motion_in_regions,
    resolve_flow_method,
    ssim,
    ssim_map,
    write_csv,
)
from deeplandscape_hf.evaluation.metrics.distribution import _TF_BLOCKS
from deeplandscape_hf.evaluation.metrics.image import gaussian_window


def smooth_texture(height: int, width: int, seed: int = 0, sigma: float = 3.0) -> np.ndarray:
    """Blurred uniform noise stretched to 0..255, uint8 (H, W, 3): trackable by flow, natural-ish for SSIM."""
    noise = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), sigma)
    blurred = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    return (blurred * 255).round().astype(np.uint8)


def top_half_moving_video(size: int = 96, num_frames: int = 5, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (T, H, W, 3) whose top half scrolls right by ``step`` px per frame and bottom half is still; + top mask."""
    image = smooth_texture(size, size, seed=1)
    frames = []
    for t in range(num_frames):
        frame = image.copy()
        frame[: size // 2] = np.roll(image, t * step, axis=1)[: size // 2]
        frames.append(frame)
    mask = np.zeros((size, size), dtype=bool)
    mask[: size // 2] = True
    return np.stack(frames), mask


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    """A torch hub cache with no weights in it, as on a fresh offline machine."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home"


# ---------------------------------------------------------------------------------------------------------------- SSIM


def test_gaussian_window_is_normalised_and_symmetric():
    taps = gaussian_window(11, 1.5)
    assert taps.shape == (11,)
    assert torch.isclose(taps.sum(), torch.tensor(1.0))
    assert torch.allclose(taps, taps.flip(0))
    assert taps.argmax() == 5


def test_ssim_map_equals_direct_2d_gaussian_window():
    """The separable implementation equals the textbook 2-D-window SSIM with zero padding (pytorch-ssim's layout)."""
    a, b = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(0)).unbind(0)
    a, b = a[None], b[None]
    taps = gaussian_window().double()
    window = torch.outer(taps, taps).expand(3, 1, 11, 11).contiguous()

    def blur(x):
        return F.conv2d(x.double(), window, padding=5, groups=3)

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    expected = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    assert torch.allclose(ssim_map(a, b).double(), expected, atol=1e-5)


def test_ssim_identical_images_is_one():
    image = torch.from_numpy(smooth_texture(48, 48)).permute(2, 0, 1).float() / 255
    assert ssim(image, image).item() == pytest.approx(1.0, abs=1e-6)


def test_ssim_decreases_with_noise():
    image = torch.from_numpy(smooth_texture(48, 48)).permute(2, 0, 1).float() / 255
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(0))
    values = [ssim(image, (image + level * noise).clamp(0, 1)).item() for level in (0.02, 0.05, 0.1, 0.3)]
    assert values[0] < 1.0
    assert all(earlier > later for earlier, later in zip(values, values[1:]))


def test_ssim_accepts_uint8_and_minus_one_one_consistently():
    a, b = smooth_texture(32, 40, seed=0), smooth_texture(32, 40, seed=1)
    ta, tb = (torch.from_numpy(x).permute(2, 0, 1).float() / 255 for x in (a, b))
    reference = ssim(ta, tb).item()
    assert ssim(a, b).item() == pytest.approx(reference, abs=1e-6)  # uint8 HWC
    assert ssim(ta * 2 - 1, tb * 2 - 1, value_range=(-1, 1)).item() == pytest.approx(reference, abs=1e-6)
    per_image = ssim(torch.stack([ta, ta]), torch.stack([tb, ta]), reduction="none")
    assert per_image.shape == (2,)
    assert per_image[0].item() == pytest.approx(reference, abs=1e-6) and per_image[1].item() == pytest.approx(1.0)


def test_masked_ssim_ignores_pixels_outside_the_mask():
    image = torch.from_numpy(smooth_texture(48, 48)).permute(2, 0, 1).float() / 255
    noisy = (image + 0.1 * torch.randn(image.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    mask = torch.zeros(48, 48, dtype=torch.bool)
    mask[:, :24] = True
    before = masked_ssim(image, noisy, mask).item()

    corrupted_a, corrupted_b = image.clone(), noisy.clone()
    corrupted_a[:, :, 24:] = torch.rand(3, 48, 24)
    corrupted_b[:, :, 24:] = 1.0 - corrupted_b[:, :, 24:]
    assert masked_ssim(corrupted_a, corrupted_b, mask).item() == pytest.approx(before, abs=1e-6)
    assert ssim(corrupted_a, corrupted_b).item() < before - 0.05  # the corruption does hurt the unmasked SSIM
    batch_mask = mask[None, None].float()  # (B, 1, H, W) form gives the same value
    assert masked_ssim(image, noisy, batch_mask).item() == pytest.approx(before, abs=1e-6)


def test_masked_ssim_image_average_reproduces_the_official_inflation():
    """Averaging over the whole image (official) counts the zeroed pixels as SSIM 1, so it exceeds the mask mean."""
    image = torch.from_numpy(smooth_texture(48, 48)).permute(2, 0, 1).float() / 255
    noisy = (image + 0.2 * torch.randn(image.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    mask = torch.zeros(48, 48)
    mask[:16] = 1
    ours = masked_ssim(image, noisy, mask).item()
    official = masked_ssim(image, noisy, mask, average="image").item()
    assert ours < official < 1.0
    assert torch.isnan(masked_ssim(image, noisy, torch.zeros(48, 48)))


# --------------------------------------------------------------------------------------------------------------- LPIPS


class RecordingLPIPSNet(nn.Module):
    """Stands in for lpips.LPIPS: mean squared difference, (N, 1, 1, 1), and remembers what it was fed."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.seen: list[torch.Tensor] = []

    def forward(self, x, y):
        self.seen += [x, y]
        return (self.scale * (x - y) ** 2).mean(dim=(1, 2, 3), keepdim=True)


def test_lpips_metric_feeds_the_network_minus_one_to_one():
    """The authors fed [0, 1] to a [-1, 1] network; ours maps to [-1, 1] whatever the caller's range."""
    net = RecordingLPIPSNet()
    metric = LPIPSMetric(net)
    a, b = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    distance = metric(a, b)
    assert distance.shape == (2,)
    assert min(x.min().item() for x in net.seen) < -0.9 and max(x.max().item() for x in net.seen) > 0.9
    assert torch.allclose(distance, ((2 * a - 2 * b) ** 2).mean(dim=(1, 2, 3)))
    assert torch.allclose(metric(a * 2 - 1, b * 2 - 1, value_range=(-1, 1)), distance, atol=1e-6)
    assert torch.equal(metric(a, a), torch.zeros(2))


def test_masked_lpips_is_lpips_of_masked_images():
    metric = LPIPSMetric(RecordingLPIPSNet())
    a, b = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    mask = torch.zeros(16, 16)
    mask[4:12, 4:12] = 1
    value = masked_lpips(a, b, mask, metric)
    assert torch.allclose(value, metric(a * mask, b * mask))
    b_corrupted = b.clone()
    b_corrupted[..., :4, :] = 0.5
    assert torch.allclose(masked_lpips(a, b_corrupted, mask, metric), value)


def test_load_lpips_names_the_missing_backbone(empty_torch_home):
    with pytest.raises(MissingWeightsError, match="vgg16-397923af.pth") as error:
        load_lpips("vgg")
    assert str(empty_torch_home) in str(error.value)


# ------------------------------------------------------------------------------------------------------ Frechet / FID


def test_frechet_distance_matches_closed_forms():
    # 1-D: (m1 - m2)² + (sqrt(v1) - sqrt(v2))²
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)
    # diagonal covariances: sum over dimensions of the 1-D formula
    v1, v2, m1, m2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25]), np.zeros(3), np.array([1.0, 0, 2.0])
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert frechet_distance(m1, np.diag(v1), m2, np.diag(v2)) == pytest.approx(expected)
    # a distribution against itself, even with a singular (rank-1) covariance
    direction = np.array([[1.0], [2.0], [-1.0]])
    singular = direction @ direction.T
    assert frechet_distance(m1, singular, m1, singular) == pytest.approx(0.0, abs=1e-4)
    assert np.isfinite(frechet_distance(m1, singular, m2, np.diag(v2)))


def tiny_image_extractor() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2),
        nn.ReLU(),
        nn.Conv2d(8, 6, 3, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


def image_set(count: int = 24, size: int = 32) -> torch.Tensor:
    return torch.stack([torch.from_numpy(smooth_texture(size, size, seed=s, sigma=1.5)) for s in range(count)])


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_noise():
    extractor = tiny_image_extractor()
    images = image_set().permute(0, 3, 1, 2).float() / 255
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
    same = fid(images, images, extractor, resolution=None, batch_size=10)
    assert same.value == pytest.approx(0.0, abs=1e-6)
    assert (same.count_a, same.count_b, same.feature_dim, same.resolution) == (24, 24, 6, None)
    values = [fid(images, (images + s * noise).clamp(0, 1), extractor, resolution=None).value for s in (0.05, 0.2, 0.5)]
    assert 0 < values[0] < values[1] < values[2]
    assert "FID" in same.describe() and "24 vs 24" in same.describe()


def test_compute_statistics_streams_mixed_inputs_and_is_batch_invariant():
    extractor = tiny_image_extractor()
    uint8_images = image_set(count=7, size=40)
    floats = uint8_images.permute(0, 3, 1, 2).float() / 255
    reference = compute_statistics([floats], extractor, batch_size=64, resolution=32)
    mixed = (x for x in [floats[:3], uint8_images[3].numpy(), *floats[4:]])  # a batch, an HWC array, single images
    streamed = compute_statistics(mixed, extractor, batch_size=2, resolution=32)
    assert streamed.count == reference.count == 7
    np.testing.assert_allclose(streamed.mu, reference.mu, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(streamed.sigma, reference.sigma, rtol=1e-4, atol=1e-8)


def test_feature_statistics_round_trip(tmp_path):
    stats = FeatureStatistics.from_features(np.random.default_rng(0).normal(size=(10, 4)))
    stats.save(tmp_path / "real.npz")
    loaded = FeatureStatistics.load(tmp_path / "real.npz")
    assert loaded.count == 10 and np.array_equal(loaded.mu, stats.mu) and np.array_equal(loaded.sigma, stats.sigma)


def test_fid_default_inception_missing_weights_is_a_clear_error(empty_torch_home):
    with pytest.raises(MissingWeightsError, match="inception_v3_google-0cc3c7bd.pth") as error:
        InceptionPool3()
    assert "TORCH_HOME" in str(error.value)
    images = torch.rand(2, 3, 16, 16)
    with pytest.raises(MissingWeightsError):
        fid(images, images)
    with pytest.raises(MissingWeightsError, match="pt_inception"):
        InceptionPool3(weights_path=empty_torch_home / "pt_inception-2015-12-05-6726825d.pth")


@pytest.mark.slow  # writes and reads a ~95 MB state dict, one 299 px Inception forward
def test_inception_loads_a_pytorch_fid_state_dict_from_a_path(tmp_path):
    """A pt_inception-layout file (1008 classes, no aux head) loads strictly and yields 2048-d pool3 features."""
    from torchvision.models.inception import Inception3

    torch.manual_seed(0)
    source = Inception3(num_classes=1008, aux_logits=False, transform_input=False, init_weights=False)
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(source.state_dict(), path)
    extractor = InceptionPool3(weights_path=path)
    assert extractor.tf_compatible
    features = extractor(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    assert features.shape == (1, 2048) and torch.isfinite(features).all()

    # The TF-graph pooling: average pools ignore the zero padding (same as torchvision's inside, different on the
    # border), and the last block max-pools.
    block = extractor.model.Mixed_5b
    x = torch.rand(1, 192, 7, 7, generator=torch.Generator().manual_seed(1))
    tf_out, stock_out = torch.cat(_TF_BLOCKS["Mixed_5b"](block, x), 1), block(x)
    assert torch.allclose(tf_out[..., 1:-1, 1:-1], stock_out[..., 1:-1, 1:-1], atol=1e-5)
    assert not torch.allclose(tf_out[..., 0, :], stock_out[..., 0, :], atol=1e-4)
    block = extractor.model.Mixed_7c
    x = torch.rand(1, 2048, 4, 4, generator=torch.Generator().manual_seed(2))
    tf_inner = torch.cat(_TF_BLOCKS["Mixed_7c"](block, x), 1)[..., 1:-1, 1:-1]
    assert not torch.allclose(tf_inner, block(x)[..., 1:-1, 1:-1])


# ---------------------------------------------------------------------------------------------------------------- FVD


def tiny_video_extractor() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(3, 8, 3, stride=(1, 2, 2)),
        nn.ReLU(),
        nn.Conv3d(8, 6, 3, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
    )


def test_fvd_of_a_set_with_itself_is_zero_and_grows_with_noise():
    extractor = tiny_video_extractor()
    videos = []
    for seed in range(16):  # each video scrolls its own texture
        image = smooth_texture(24, 24, seed=seed, sigma=1.5)
        videos.append(torch.from_numpy(np.stack([np.roll(image, t, axis=1) for t in range(8)])))
    floats = [v.permute(0, 3, 1, 2).float() / 255 for v in videos]
    gen = torch.Generator().manual_seed(0)
    same = fvd(videos, floats, extractor, num_frames=8)  # uint8 (T, H, W, 3) vs float (T, 3, H, W)
    assert same.value == pytest.approx(0.0, abs=1e-6)
    assert same.metric == "FVD (custom features)" and "not comparable to I3D-based FVD" in same.notes
    values = []
    for level in (0.05, 0.2, 0.5):
        noisy = [(v + level * torch.randn(v.shape, generator=gen)).clamp(0, 1) for v in floats]
        values.append(fvd(floats, noisy, extractor, num_frames=8).value)
    assert 0 < values[0] < values[1] < values[2]
    with pytest.raises(ValueError, match="num_frames=16"):
        fvd(floats, floats, extractor)


def test_fvd_default_extractor_missing_weights_is_a_clear_error(empty_torch_home):
    with pytest.raises(MissingWeightsError, match="r2plus1d_18-91a641e6.pth"):
        R2Plus1DFeatures()
    with pytest.raises(MissingWeightsError, match="I3D"):
        fvd([], [], i3d_path=empty_torch_home / "i3d_torchscript.pt")


# ---------------------------------------------------------------------------------------------------------------- flow


@pytest.mark.parametrize("method", ["farneback", "dis"])
@pytest.mark.parametrize("shift", [2, 3])
def test_flow_of_a_translation_is_the_shift(method, shift):
    image = smooth_texture(96, 96)
    moved = np.roll(image, shift, axis=1)  # content moves right by `shift` pixels
    flow = flow_between(image, moved, method)
    assert flow.shape == (96, 96, 2)
    interior = flow[16:-16, 16:-16]
    assert np.median(interior[..., 0]) == pytest.approx(shift, abs=0.1)
    assert abs(np.median(interior[..., 1])) < 0.1


def test_motion_amount_is_in_normalised_coordinates():
    image = smooth_texture(96, 96)
    frames = np.stack([np.roll(image, 2 * t, axis=0) for t in range(4)])  # 2 px/frame downwards
    assert motion_amount(frames) == pytest.approx(2 * 2 / 96, rel=0.1)


def test_motion_in_regions_separates_moving_sky_from_still_land():
    frames, top = top_half_moving_video()
    motion = motion_in_regions(frames, top)
    assert motion["dynamic"] == pytest.approx(2 / 96, rel=0.15)  # 1 px/frame in normalised units
    assert motion["ratio"] > 10 and motion["static"] < motion["dynamic"] / 10
    assert motion["dynamic_x1e3"] == pytest.approx(motion["dynamic"] * 1e3)
    assert motion_amount(frames, top) == pytest.approx(motion["dynamic"])
    float_frames = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert motion_amount(float_frames, top, value_range=(-1, 1)) == pytest.approx(motion["dynamic"], rel=1e-3)


def test_raft_without_cached_weights_falls_back_with_a_note(empty_torch_home):
    with pytest.warns(UserWarning, match="Farneback"):
        method, note = resolve_flow_method("raft")
    assert method == "farneback" and "raft_small" in note
    assert resolve_flow_method("dis") == ("dis", None)
    with pytest.raises(ValueError):
        resolve_flow_method("slomo")


# -------------------------------------------------------------------------------------------------- report and table


def test_evaluate_animation_reports_reconstruction_consistency_and_motion():
    frames, top = top_half_moving_video(size=64, num_frames=4)
    frames[2:, 48:] = 255 - frames[2:, 48:]  # frames 2-3 also disturb part of the land
    report = evaluate_animation(frames, frames[0], top, lpips_fn=LPIPSMetric(RecordingLPIPSNet()))
    assert report["num_frames"] == 4 and report["resolution"] == (64, 64)
    assert report["ssim"] == pytest.approx(1.0, abs=1e-6) and report["lpips"] == pytest.approx(0.0, abs=1e-7)
    per_frame = report["static_ssim_per_frame"]
    assert per_frame[0] == pytest.approx(1.0, abs=1e-6) and per_frame[1] == pytest.approx(1.0, abs=1e-6)
    assert per_frame[2] < 0.9 and report["static_ssim"] == pytest.approx(np.mean(per_frame))
    static_lpips = report["static_lpips_per_frame"]
    assert static_lpips[1] == pytest.approx(0.0, abs=1e-7) and static_lpips[2] > 0.01
    assert report["flow_dynamic"] > 0 and report["flow_method"] == "farneback" and report["lpips_note"] is None


def test_evaluate_animation_without_lpips_weights_says_why(empty_torch_home):
    frames, top = top_half_moving_video(size=32, num_frames=3)
    report = evaluate_animation(frames, frames[0], top)
    assert report["lpips"] is None and report["static_lpips_per_frame"] is None
    assert "vgg16-397923af.pth" in report["lpips_note"]
    assert report["ssim"] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="crop/resize"):
        evaluate_animation(frames, frames[0, :16], top, lpips_fn=False)


def test_inversion_table_has_one_row_per_variant(tmp_path):
    reports = {
        "EO": [
            {"ssim": 0.9, "lpips": 0.1, "flow_dynamic_x1e3": 1.0},
            {"ssim": 0.8, "lpips": 0.3, "flow_dynamic_x1e3": 2.0},
        ],
        "EOIFS": {"ssim": 0.95, "lpips": None, "flow_dynamic_x1e3": 2.6},
    }
    rows = inversion_table_rows(reports)
    assert [row["variant"] for row in rows] == ["EO", "EOIFS"]
    assert rows[0]["SSIM"] == pytest.approx(0.85) and rows[0]["LPIPS"] == pytest.approx(0.2) and rows[0]["count"] == 2
    assert rows[1]["LPIPS"] is None

    table = format_markdown_table(rows).strip().splitlines()
    assert table[0] == "| variant | SSIM | LPIPS | Flow x1e-3 |"
    assert len(table) == 2 + len(reports)
    assert table[3] == "| EOIFS | 0.950 | n/a | 2.600 |"

    path = write_csv(rows, tmp_path / "table2.csv")
    with path.open() as handle:
        written = list(csv.DictReader(handle))
    assert [r["variant"] for r in written] == ["EO", "EOIFS"] and written[1]["LPIPS"] == ""
    assert float(written[0]["Flow x1e-3"]) == pytest.approx(1.5)


def test_noise_sensitivity_sees_exactly_the_noise_levels_a_generator_uses():
    from deeplandscape_hf import DeepLandscapeGenerator, GeneratorConfig
    from deeplandscape_hf.evaluation.metrics import noise_sensitivity

    torch.manual_seed(0)
    G = DeepLandscapeGenerator(
        GeneratorConfig(resolution=16, channels=[16, 8, 8], z_dim=16, w_dim=8, mapping_layers=1, z_dynamic_dim=3)
    ).eval()
    fresh = noise_sensitivity(G, 4, seed=1)  # noise weights start at zero: no noise level does anything yet
    assert [row["size"] for row in fresh.levels] == [4, 8, 16]
    assert all(row["dynamic_noise"] == 0 and row["static_noise"] == 0 for row in fresh.levels)
    assert fresh.inputs["dynamic_noise"] == 0 and fresh.inputs["static_noise"] == 0
    assert fresh.inputs["z_static"] > 0.1 and fresh.inputs["z_dynamic"] > 0

    with torch.no_grad():
        G.blocks[1].dynamic_noise1.weight.fill_(1.0)  # only S^dyn at 8 px
    used = noise_sensitivity(G, 4, seed=1)
    assert [row["dynamic_noise"] > 0.1 for row in used.levels] == [False, True, False]
    assert all(row["static_noise"] == 0 for row in used.levels)
    assert used.inputs["dynamic_noise"] > 0.1
    assert used.inputs == noise_sensitivity(G, 4, seed=1).inputs  # seeded: reproducible
    assert "| 1 | 8 |" in used.to_markdown()


def test_static_margin_leaves_the_estimators_window_out_of_the_land():
    from deeplandscape_hf.evaluation.metrics.flow import motion_in_regions

    rng = np.random.default_rng(0)
    sky = rng.random((64, 200)).repeat(2, 0).repeat(2, 1)[:64, :200]  # blobs a few pixels wide
    land = rng.random((64, 96))
    frames = []
    for t in range(4):
        moved = np.roll(sky, 2 * t, axis=1)
        frame = np.concatenate([moved[:, :96], land], axis=0)  # sky rows 0-63 move, land rows 64-127 stay
        frames.append(np.repeat((frame * 255).astype(np.uint8)[..., None], 3, axis=-1))
    video = np.stack(frames)
    dynamic = np.zeros((128, 96), dtype=bool)
    dynamic[:64] = True
    plain = motion_in_regions(video, dynamic, "farneback")
    margin = motion_in_regions(video, dynamic, "farneback", static_margin_px=8)
    assert plain["dynamic_px"] > 1.0  # about 2 px per frame
    assert plain["static_px"] > 0.05  # the window drags the sky's motion onto the land beside it
    assert margin["static_px"] < 0.2 * plain["static_px"]
    assert margin["dynamic_px"] == plain["dynamic_px"]
