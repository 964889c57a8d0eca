"""``deeplandscape evaluate`` and the orchestration in ``evaluation.py``: pairing, error messages, the three tables.

Networks are tiny stand-ins: random conv feature extractors for FID/FVD, a mean-absolute-difference "LPIPS", tiny
random generator / encoder / network A saved in the hub layout for the inversion sweep. Videos are synthetic: the top
half scrolls sideways, the bottom half stands still, so the expected numbers are known.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from deeplandscape_hf import DeepLandscapeGenerator, GeneratorConfig
from deeplandscape_hf import evaluation as ev
from deeplandscape_hf.animation.pipeline import DeepLandscapePipeline, PipelineConfig
from deeplandscape_hf.animation.video import write_video
from deeplandscape_hf.cli import main
from deeplandscape_hf.networks.dynamics import DynamicsConfig, StyleDynamicsNet
from deeplandscape_hf.networks.encoder import DeepLandscapeEncoder, EncoderConfig
from deeplandscape_hf.networks.layers import NoiseInjection

# ------------------------------------------------------------------------------------------------------ fixtures


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Blurred noise stretched to 0..255, uint8 (H, W, 3): structure that both SSIM and optical flow can lock on.

    The detail is in the brightness (one noise field, tinted): H.264's 4:2:0 chroma subsampling keeps it, as it
    keeps the detail of real photos, so an mp4 round trip stays near SSIM 1.
    """
    noise = np.random.default_rng(seed).random((height, width)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 2.0)
    blurred = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    tint = np.array([0.8, 0.95, 1.0], dtype=np.float32)
    return (blurred[..., None] * tint * 230 + 20).round().astype(np.uint8)


def top_moving(photo: np.ndarray, num_frames: int, step: int = 2) -> np.ndarray:
    """(T, H, W, 3): the top half of ``photo`` scrolls right by ``step`` px per frame, the bottom half stays put."""
    half = photo.shape[0] // 2
    frames = []
    for t in range(num_frames):
        frame = photo.copy()
        frame[:half] = np.roll(photo, t * step, axis=1)[:half]
        frames.append(frame)
    return np.stack(frames)


def top_mask(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[: height // 2] = 255
    return mask


def mean_abs_lpips(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """An LPIPS stand-in with LPIPS' contract: two (N, 3, H, W) batches in [0, 1] -> (N,) distances, 0 when equal."""
    return (a - b).abs().flatten(1).mean(1)


@pytest.fixture(autouse=True)
def one_thread():
    """Run on one thread: these networks are tiny, and on a shared 2-core machine a second thread only waits."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    """A torch cache without any weights, as on a fresh offline machine."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home"


@pytest.fixture
def animation_files(tmp_path):
    """lake.png (63x48, odd width) with an mp4 animation and a PNG-frame-folder animation, plus a mask folder."""
    photos, masks, videos = (tmp_path / name for name in ("photos", "masks", "videos"))
    for folder in (photos, masks, videos):
        folder.mkdir()
    photo = texture(48, 63, seed=1)
    Image.fromarray(photo).save(photos / "lake.png")
    Image.fromarray(top_mask(48, 63)).save(masks / "lake.png")
    write_video(top_moving(photo, 6), videos / "lake_animated.mp4", fps=10, quality=10)
    write_video(top_moving(photo, 4), videos / "lake_0")  # the official metrics' format: numbered frames
    return photos, masks, videos


# ------------------------------------------------------------------------------------------------------ animation


def test_animation_static_land_stays_and_the_sky_moves(animation_files, tmp_path):
    photos, masks, videos = animation_files
    items, warnings = ev.pair_animation_files([videos], [photos], masks)
    assert [item.video.name for item in items] == ["lake_0", "lake_animated.mp4"]
    assert all(item.photo.name == "lake.png" and item.mask.name == "lake.png" for item in items) and not warnings

    result = ev.evaluate_animation_files(items, lpips_fn=mean_abs_lpips, flow="farneback")
    lossless, mp4, mean = result.rows
    assert lossless["SSIM"] == pytest.approx(1.0, abs=1e-6) and lossless["LPIPS"] == pytest.approx(0.0, abs=1e-7)
    assert lossless["static SSIM"] == pytest.approx(1.0, abs=1e-6)
    assert mp4["size"] == "63x48"  # the encoder's even-size padding column was trimmed off again
    assert mp4["SSIM"] > 0.9 and mp4["static SSIM"] > 0.95 and mp4["static LPIPS"] < 0.03
    for row in (lossless, mp4):
        assert row["flow dyn x1e-3"] == pytest.approx(2 * 2 / 63 * 1e3, rel=0.2)  # 2 px/frame; the width spans 2 units
        assert row["flow dyn x1e-3"] > 5 * row["flow static x1e-3"] and row["flow ratio"] > 5
    assert mean["video"] == "mean of 2" and mean["SSIM"] == pytest.approx((lossless["SSIM"] + mp4["SSIM"]) / 2)
    assert any("different frame counts" in note and "lake_0 (4)" in note for note in result.notes)
    assert any(note.startswith("optical flow: farneback") for note in result.notes)
    assert len(result.details[1]["static_ssim_per_frame"]) == 6


def test_animation_cli_writes_json_and_csv_with_lpips_marked_missing(
    animation_files, tmp_path, capsys, empty_torch_home
):
    photos, masks, videos = animation_files
    out_json, out_csv = tmp_path / "out" / "report.json", tmp_path / "out" / "report.csv"
    argv = (
        f"evaluate animation {videos / 'lake_animated.mp4'} --inputs {photos / 'lake.png'} --masks {masks} "
        f"--flow raft --json {out_json} --csv {out_csv} --quiet"
    ).split()
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| video | photo | frames |" in printed and "n/a" in printed
    assert "vgg16-397923af.pth" in printed  # LPIPS n/a, and the note says which file is missing and where it goes
    assert "Farneback" in printed  # RAFT asked for, weights absent: the fallback estimator is stated
    report = json.loads(out_json.read_text())
    assert report["rows"][0]["LPIPS"] is None and report["rows"][0]["static SSIM"] > 0.95
    assert report["details"][0]["flow_method"] == "farneback"
    with out_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["video"] for row in rows][-1] == "mean of 1" and rows[0]["LPIPS"] == ""


def test_animation_errors_name_the_files(animation_files, tmp_path, capsys):
    photos, masks, videos = animation_files
    write_video(top_moving(texture(32, 32), 2), videos / "river_0")
    assert main(["evaluate", "animation", str(videos), "--inputs", str(photos), "--masks", str(masks)]) == 2
    error = capsys.readouterr().err
    assert "river_0" in error and "lake" in error and "no input photo matches" in error

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "lake_x.mp4").write_bytes(b"not a video at all")
    with pytest.raises(ev.EvaluationInputError, match="lake_x.mp4"):
        items, _ = ev.pair_animation_files([broken], [photos], masks)
        ev.evaluate_animation_files(items, lpips_fn=False)

    wrong = tmp_path / "wrong_masks"
    wrong.mkdir()
    Image.fromarray(top_mask(48, 48)).save(wrong / "lake_mask.png")  # square mask for a 63x48 photo
    items, _ = ev.pair_animation_files([videos / "lake_0"], [photos], wrong)
    with pytest.raises(ev.EvaluationInputError, match=r"lake_mask\.png.*lake\.png"):
        ev.evaluate_animation_files(items, lpips_fn=False)

    Image.fromarray(top_mask(96, 126)).save(wrong / "lake_mask.png")  # same shape, twice the size: resized, noted
    result = ev.evaluate_animation_files(items, lpips_fn=False, flow="farneback")
    assert any("lake_mask.png" in note and "resized" in note for note in result.notes)

    with pytest.raises(ev.EvaluationInputError, match="no mask .* for: lake"):
        ev.pair_animation_files([videos / "lake_0"], [photos], tmp_path / "videos")


def test_a_partial_video_left_by_an_interrupted_writer_is_not_a_video(tmp_path):
    """A killed render leaves its unfinished frames in a hidden ``.NAME.partial`` folder beside the finished ones:
    scanning the folder skips it instead of failing on a video that matches no photo."""
    for name in ("lake", ".lake_2.1a2b3c4d.partial"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / name / "00000.png")
    assert ev.find_videos([tmp_path]) == [tmp_path / "lake"]


def test_video_names_match_the_longest_photo_name(tmp_path):
    photos = {"lake": tmp_path / "lake.jpg", "lake_2": tmp_path / "lake_2.jpg"}
    videos = [tmp_path / "lake_2_animated.mp4", tmp_path / "lake.mp4", tmp_path / "lake_eoifs.gif"]
    assert [stem for _, stem in ev.match_videos_to_photos(videos, photos)] == ["lake_2", "lake", "lake"]


# ------------------------------------------------------------------------------------------------------ inversion


RESOLUTION = 16
TINY_PRESETS = {
    name: {"optimization_iterations": 3, "fine_tune_iterations": 2, "i2s_iterations": 3, "render_batch_size": 4}
    for name in ("fast", "balanced", "paper")
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """Tiny G + E + A saved with save_pretrained in the hub layout, with presets of a few iterations."""
    torch.manual_seed(0)
    generator = DeepLandscapeGenerator(
        GeneratorConfig(
            resolution=RESOLUTION, channels=[16, 16, 8], z_dim=32, w_dim=16, mapping_layers=2, fused_from_resolution=16
        )
    )
    with torch.no_grad():
        for module in generator.modules():
            if isinstance(module, NoiseInjection):
                module.weight.normal_(0, 0.5)  # make the dynamic noise visible, so warping it gives motion
        generator.w_avg.copy_(generator.map(torch.randn(256, 32)).mean(0))
    encoder = DeepLandscapeEncoder(
        EncoderConfig(backbone="resnet18", num_levels=3, w_dim=16, hidden=32, pretrained_backbone=False, image_size=32)
    )
    encoder.set_output_bias(generator.w_avg)
    dynamics = StyleDynamicsNet(DynamicsConfig(w_dim=16, z_dynamic_dim=3, depth=2))
    folder = tmp_path_factory.mktemp("model")
    config = PipelineConfig(presets=TINY_PRESETS, default_preset="fast", num_frames=3)
    DeepLandscapePipeline(generator, encoder, dynamics, config).save_pretrained(folder)
    return folder


def test_inversion_sweep_cli_gives_one_table2_row_per_variant(model_dir, tmp_path, capsys):
    photos, masks = tmp_path / "photos", tmp_path / "masks"
    photos.mkdir()
    masks.mkdir()
    Image.fromarray(texture(40, 48, seed=3)).save(photos / "hills.jpg")
    Image.fromarray(top_mask(40, 48)).save(masks / "hills.png")
    out_csv, out_json = tmp_path / "table2.csv", tmp_path / "table2.json"
    argv = (
        f"evaluate inversion {photos} --model {model_dir} --preset fast --frames 3 --perceptual none "
        f"--masks {masks} --no-lpips --flow farneback --quiet --csv {out_csv} --json {out_json}"
    ).split()
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| variant | SSIM | LPIPS | Flow x1e-3 |")
    assert "| EOIFS | 0.94 | 0.05 | 2.60 |" in printed  # the supplement's numbers printed alongside for comparison
    with out_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["variant"] for row in rows] == ["I2S", "MO", "E", "EO", "EOI", "EOIF", "EOIFS"]
    assert all(-1 <= float(row["SSIM"]) <= 1 and float(row["Flow x1e-3"]) >= 0 and row["LPIPS"] == "" for row in rows)
    report = json.loads(out_json.read_text())
    assert {d["variant"] for d in report["details"]} == {row["variant"] for row in rows}
    assert all(d["num_frames"] == 3 and d["resolution"] == [RESOLUTION, RESOLUTION] for d in report["details"])
    assert report["protocol"]["masks"] == "files"
    assert any("perceptual='none'" in note for note in report["notes"])  # the pipeline's warning is kept


def test_inversion_sweep_averages_photos_per_variant_with_a_stub():
    photo = texture(32, 32, seed=5)

    def animate(path, variant):
        frames = top_moving(photo, 4)
        if variant == "e":  # a poor reconstruction, as the encoder alone gives
            frames = np.clip(frames.astype(int) + np.random.default_rng(0).integers(-60, 60, frames.shape), 0, 255)
        return ev.AnimationSample(frames.astype(np.uint8), photo, top_mask(32, 32) > 0, {"timings": {"total": 1.5}})

    photos = [Path("a.jpg"), Path("b.jpg")]
    result = ev.run_inversion_sweep(photos, ["eoifs", "e"], animate, lpips_fn=mean_abs_lpips, flow="farneback")
    eoifs, e = result.rows
    assert (eoifs["variant"], e["variant"]) == ("EOIFS", "E") and eoifs["count"] == e["count"] == 2
    assert eoifs["SSIM"] == pytest.approx(1.0, abs=1e-6) and e["SSIM"] < 0.8 and e["LPIPS"] > eoifs["LPIPS"]
    assert eoifs["Flow x1e-3"] > 5 * eoifs["flow static x1e-3"] and eoifs["seconds"] == 1.5
    assert [row["variant"] for row in result.reference] == ["EOIFS", "E"]
    assert ev.sort_variants(["EOIFS", "e", "i2s"]) == ["i2s", "e", "eoifs"]
    with pytest.raises(ev.EvaluationInputError, match="slomo"):
        ev.sort_variants(["slomo"])


# ------------------------------------------------------------------------------------------------------ synthetic


def tiny_generator(seed: int) -> DeepLandscapeGenerator:
    torch.manual_seed(seed)
    model = DeepLandscapeGenerator(
        GeneratorConfig(
            resolution=16, channels=[8, 8, 8], z_dim=16, w_dim=8, mapping_layers=2, fused_from_resolution=16
        )
    )
    with torch.no_grad():
        model.w_avg.copy_(model.map(torch.randn(64, 16)).mean(0))
    return model.eval()


def tiny_image_features() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def tiny_clip_features() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(3, 5, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten())


SAMPLING = dict(num_videos=6, num_frames=4, resolution=16, fid_every=2, fvd_frames=4, motion="random")


def test_fid_and_fvd_of_a_generator_against_its_own_videos_are_zero():
    same, other = tiny_generator(0), tiny_generator(1)
    real, _ = ev.generated_video_samples(same, **SAMPLING)
    assert real[0].fid_frames.shape == (2, 16, 16, 3) and real[0].clip.shape == (4, 16, 16, 3)

    def still_top(photo: np.ndarray) -> np.ndarray:
        return top_mask(*photo.shape[:2]) / 255.0

    result = ev.evaluate_generators(
        {"same": same, "other": other},
        real,
        fid_extractor=tiny_image_features(),
        fvd_extractor=tiny_clip_features(),
        per_video=ev.generated_static_and_motion(still_top, mean_abs_lpips, "farneback"),
        command="balance",
        **SAMPLING,
    )
    same_row, other_row = result.rows
    assert same_row["FID"] == pytest.approx(0.0, abs=1e-6) and same_row["FVD"] == pytest.approx(0.0, abs=1e-6)
    assert other_row["FID"] > 1e-3 and other_row["FVD"] > 1e-3
    assert same_row["SSIM"] is not None and 0 < same_row["SSIM"] <= 1 and same_row["LPIPS"] >= 0
    assert same_row["Flow x1e-3"] >= 0 and len(result.details[0]["videos"]) == 6
    assert "6 generated vs 6 real clips of the first 4 frames at 16 px" in result.protocol["FVD"]
    assert "12 generated vs 12 real frames" in result.protocol["FID"]
    assert any("R (the supplement's user-study column)" in note for note in result.notes)
    text = result.to_markdown()
    assert text.startswith("| model | FID | FVD | SSIM | LPIPS | Flow x1e-3 |") and "Protocol:" in text


def test_real_video_folder_checks_name_short_and_broken_videos(tmp_path):
    folder = tmp_path / "real"
    folder.mkdir()
    write_video(top_moving(texture(24, 32), 5), folder / "long.gif", fps=10)
    write_video(top_moving(texture(24, 32, seed=2), 2), folder / "short_clip")
    with pytest.raises(ev.EvaluationInputError, match=r"short_clip \(2 frames\)"):
        ev.collect_video_samples(folder, resolution=16, fid_every=2, fvd_frames=4)
    samples = ev.collect_video_samples(folder, resolution=16, fid_every=2, fvd_frames=None)
    assert [s.fid_frames.shape for s in samples] == [(3, 16, 16, 3), (1, 16, 16, 3)] and samples[0].clip is None
    (folder / "broken.webm").write_bytes(b"\x00" * 64)
    with pytest.raises(ev.EvaluationInputError, match="broken.webm"):
        ev.collect_video_samples(folder, resolution=16, fid_every=2, fvd_frames=None)


def test_synthetic_cli_names_missing_feature_weights(model_dir, tmp_path, capsys, empty_torch_home):
    real = tmp_path / "real"
    real.mkdir()
    base = f"evaluate synthetic --model {model_dir} --real {real} --num-videos 2 --frames 4 --fvd-frames 4".split()
    assert main(base) == 2
    assert "inception_v3_google-0cc3c7bd.pth" in capsys.readouterr().err
    assert main([*base, "--no-fid"]) == 2
    error = capsys.readouterr().err
    assert "r2plus1d_18" in error and "--no-fvd" in error
    assert main([*base, "--no-fid", "--i3d", str(tmp_path / "i3d.pt")]) == 2
    assert "i3d.pt" in capsys.readouterr().err
