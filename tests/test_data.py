import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deeplandscape_hf.training.data import (
    cache_path,
    find_images,
    find_videos,
    load_manifest,
    prepare_dataset,
    resized_shape,
)
from deeplandscape_hf.training.datasets import (
    FramePairDataset,
    ImageDataset,
    SameFrameCropsDataset,
    StreamSampler,
    make_loader,
)
from deeplandscape_hf.training.procedural import render_landscape_video, write_mp4, write_procedural_dataset

# Coded frames: channel 0 = frame id * 25, channel 1 = column * 7, channel 2 = row * 15. Stored as lossless PNG at
# the cached resolution, so every served pixel tells which frame, column and row it came from.
CODE_FRAME, CODE_COL, CODE_ROW = 25, 7, 15


def _coded_frame(frame_id: int, height: int, width: int) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([np.full_like(rows, frame_id * CODE_FRAME), cols * CODE_COL, rows * CODE_ROW], -1).astype(np.uint8)


def _decode(t: torch.Tensor) -> np.ndarray:
    """float (..., 3, H, W) in [-1, 1] -> int codes (..., 3, H, W)."""
    return np.rint((t.numpy() + 1) * 127.5).astype(int)


def _frame_ids(pair: torch.Tensor) -> list[int]:
    codes = _decode(pair)[:, 0]
    assert all((c == c.flat[0]).all() for c in codes)  # one frame per crop
    return [int(c.flat[0]) // CODE_FRAME for c in codes]


def _columns(crop: torch.Tensor) -> np.ndarray:
    return _decode(crop)[1, 0] // CODE_COL  # column index of each served column


def _write_frames(folder: Path, frames: list[np.ndarray]) -> None:
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"f{i}.png")


@pytest.fixture(scope="module")
def mixed_sources(tmp_path_factory, landscape_photos):
    """Realistic inputs: photos, a broken image, procedural mp4s, a frame folder, a corrupt and a one-frame video."""
    root = tmp_path_factory.mktemp("sources")
    images = root / "images"
    (images / "sub").mkdir(parents=True)
    for i, photo in enumerate(landscape_photos[:2]):
        with Image.open(photo) as im:
            im.reduce(8).save(images / f"photo{i}.JPG")  # ~64 px, upper-case extension
    Image.fromarray(render_landscape_video(1, (20, 30), seed=9)[0]).save(images / "sub" / "synthetic.png")
    (images / "broken.jpg").write_bytes(b"not a jpeg at all")
    videos = root / "videos"
    write_procedural_dataset(videos, num_videos=2, num_frames=6, size=(16, 24), seed=0)
    write_procedural_dataset(videos / "frames", num_videos=1, num_frames=4, size=16, seed=1, format="frames")
    (videos / "corrupt.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    write_mp4(videos / "single.mp4", render_landscape_video(1, 16, seed=2))
    return images, videos


@pytest.fixture(scope="module")
def mixed_cache(mixed_sources, tmp_path_factory):
    images, videos = mixed_sources
    out = tmp_path_factory.mktemp("cache")
    summary = prepare_dataset(images, videos, out, resolutions=[8, 16], progress=False)
    return out, summary


@pytest.fixture(scope="module")
def coded_cache(tmp_path_factory):
    """Frame folders of coded frames: a wide clip (16x32), a square clip (16x16), and one wide coded image."""
    root = tmp_path_factory.mktemp("coded")
    _write_frames(root / "videos" / "wide", [_coded_frame(i, 16, 32) for i in range(5)])
    _write_frames(root / "videos" / "square", [_coded_frame(i, 16, 16) for i in range(3)])
    (root / "images").mkdir()
    Image.fromarray(_coded_frame(0, 16, 32)).save(root / "images" / "coded.png")
    out = root / "cache"
    prepare_dataset(root / "images", root / "videos", out, resolutions=[8, 16], progress=False)
    return out


# ------------------------------------------------------------------------------------------------- discovery
def test_discovery_rules(tmp_path):
    for name in ["a.JPG", "b.jpeg", "c.Png", "d.webp", "notes.txt", ".hidden.jpg", "deep/e.jpg"]:
        (tmp_path / "img" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "img" / name).write_bytes(b"")
    assert [p.name for p in find_images(tmp_path / "img")] == ["a.JPG", "b.jpeg", "c.Png", "d.webp", "e.jpg"]

    vids = tmp_path / "vid"
    for name in ["x.MP4", "y.webm", "z.mov", "w.avi", "v.mkv", "frames/frame_10.png", "frames/frame_2.png",
                 "lonely/only.png", "mixed/clip.mp4", "mixed/cover.jpg", "mixed/thumb.jpg"]:  # fmt: skip
        (vids / name).parent.mkdir(parents=True, exist_ok=True)
        (vids / name).write_bytes(b"")
    found = {v.path.relative_to(vids).as_posix(): v for v in find_videos(vids)}
    assert set(found) == {"x.MP4", "y.webm", "z.mov", "w.avi", "v.mkv", "frames", "mixed/clip.mp4"}
    assert [f.name for f in found["frames"].frames] == ["frame_2.png", "frame_10.png"]  # natural order
    assert found["frames"].is_frame_folder and not found["x.MP4"].is_frame_folder


def test_resized_shape_follows_torchvision():
    assert resized_shape(512, 910, 256) == (256, 455)
    assert resized_shape(910, 512, 256) == (455, 256)
    assert resized_shape(100, 100, 8) == (8, 8)


# --------------------------------------------------------------------------------------------------- prepare
def test_prepare_counts_and_skips(mixed_cache):
    out, summary = mixed_cache
    assert summary.num_images == 3 and summary.num_videos == 3
    assert summary.num_video_frames == 6 + 6 + 4
    assert summary.skipped_counts == {"unreadable": 2, "too_few_frames": 1}
    skipped = {Path(s.source).name: s for s in summary.skipped}
    assert set(skipped) == {"broken.jpg", "corrupt.mp4", "single.mp4"}
    assert skipped["single.mp4"].category == "too_few_frames" and skipped["corrupt.mp4"].kind == "video"
    # Each skipped input is warned about once; the summary line counts them by reason.
    assert str(summary).endswith("3 skipped (2 unreadable, 1 shorter than 2 frames)")


def test_manifest_and_cached_arrays(mixed_cache):
    out, _ = mixed_cache
    manifest = load_manifest(out)
    assert manifest["resolutions"] == [8, 16]
    assert {Path(e["source"]).name for e in manifest["videos"]} == {
        "procedural_00000.mp4", "procedural_00001.mp4", "procedural_00000"
    }  # fmt: skip
    assert len(manifest["skipped"]) == 3
    for kind in ("images", "videos"):
        for entry in manifest[kind]:
            for r in (8, 16):
                array = np.load(cache_path(out, r, kind, entry["id"]), allow_pickle=False)
                assert array.dtype == np.uint8 and array.shape[-1] == 3
                height, width = array.shape[-3:-1]
                assert min(height, width) == r
                assert [height, width] == entry["shapes"][str(r)]
                if kind == "videos":
                    assert array.shape[0] == entry["num_frames"] >= 2
    photo = next(e for e in manifest["images"] if e["source"].endswith("photo0.JPG"))
    assert photo["shapes"]["16"][1] > 16  # landscape photos keep their aspect ratio
    assert not [p for p in out.rglob(".*")]  # no temporary files


def test_prepare_reruns_reuse_and_repair(mixed_sources, tmp_path):
    images, videos = mixed_sources
    out = tmp_path / "cache"
    first = prepare_dataset(images, videos, out, resolutions=[8], progress=False)
    manifest = load_manifest(out)
    victim = cache_path(out, 8, "videos", manifest["videos"][0]["id"])
    kept = cache_path(out, 8, "images", manifest["images"][0]["id"])
    kept_mtime = kept.stat().st_mtime_ns
    victim.unlink()  # as if interrupted before this item was written
    stale = victim.with_name(f".{victim.stem}.tmp-999.npy")
    stale.write_bytes(b"half written")
    second = prepare_dataset(images, videos, out, resolutions=[8], progress=False)
    assert second.num_reused == first.num_images + first.num_videos - 1
    assert victim.exists() and not stale.exists()
    assert kept.stat().st_mtime_ns == kept_mtime
    assert load_manifest(out)["videos"] == manifest["videos"]


def test_max_frames_spread_over_the_whole_clip(tmp_path):
    gray = [np.full((16, 16, 3), 12 * t, np.uint8) for t in range(20)]
    write_mp4(tmp_path / "v" / "ramp.mp4", np.stack(gray))
    _write_frames(tmp_path / "v" / "folder", [_coded_frame(i, 16, 16) for i in range(9)])
    prepare_dataset(None, tmp_path / "v", tmp_path / "c", [16], max_frames_per_video=4, progress=False)
    manifest = load_manifest(tmp_path / "c")
    by_name = {Path(e["source"]).name: e for e in manifest["videos"]}
    clip = np.load(cache_path(tmp_path / "c", 16, "videos", by_name["ramp.mp4"]["id"]))
    ids = np.rint(clip.reshape(len(clip), -1).mean(1) / 12).astype(int)
    assert len(clip) == 4 and ids[0] <= 1 and ids[-1] >= 15 and (np.diff(ids) > 0).all()
    folder = np.load(cache_path(tmp_path / "c", 16, "videos", by_name["folder"]["id"]))
    assert (folder[:, 0, 0, 0] // CODE_FRAME).tolist() == [0, 3, 5, 8]


def test_frame_folder_with_mixed_sizes_is_skipped(tmp_path):
    _write_frames(tmp_path / "v" / "mixed", [_coded_frame(0, 8, 8), _coded_frame(1, 8, 12)])
    _write_frames(tmp_path / "v" / "good", [_coded_frame(0, 8, 8), _coded_frame(1, 8, 8)])
    summary = prepare_dataset(None, tmp_path / "v", tmp_path / "c", [8], progress=False)
    assert summary.num_videos == 1 and summary.skipped_counts == {"mismatched_frame_sizes": 1}
    assert Path(summary.skipped[0].source).name == "mixed"


def test_clear_errors_before_any_work(tmp_path, mixed_sources):
    images, videos = mixed_sources
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        prepare_dataset(tmp_path / "missing", None, out, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no images found in .*empty.*\.jpg"):
        prepare_dataset(tmp_path / "empty", None, out, progress=False)
    (tmp_path / "one_image").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "one_image" / "a.png")
    with pytest.raises(ValueError, match=r"no videos found in .*\.mp4"):
        prepare_dataset(images, tmp_path / "one_image", out, progress=False)
    assert not out.exists()  # nothing was written
    with pytest.raises(ValueError, match="at least one"):
        prepare_dataset(None, [], out, progress=False)
    with pytest.raises(ValueError, match="resolutions"):
        prepare_dataset(images, None, out, resolutions=[0], progress=False)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PermissionError, match="cannot write"):
        prepare_dataset(images, None, blocker / "cache", progress=False)


def test_dataset_errors(mixed_cache, coded_cache, tmp_path):
    out, _ = mixed_cache
    with pytest.raises(FileNotFoundError, match="prepare_dataset"):
        ImageDataset(tmp_path, 8)
    with pytest.raises(ValueError, match="resolution 32 is not cached"):
        FramePairDataset(out, 32)
    images_only = tmp_path / "images_only"
    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    Image.new("RGB", (12, 8)).save(img_dir / "a.png")
    prepare_dataset(img_dir, None, images_only, [8], progress=False)
    with pytest.raises(ValueError, match="no videos"):
        FramePairDataset(images_only, 8)
    with pytest.raises(ValueError, match="no videos"):
        SameFrameCropsDataset(images_only, 8)
    videos_only = tmp_path / "videos_only"
    _write_frames(tmp_path / "v" / "clip", [_coded_frame(i, 8, 8) for i in range(2)])
    prepare_dataset(None, tmp_path / "v", videos_only, [8], progress=False)
    with pytest.raises(ValueError, match="no images"):
        ImageDataset(videos_only, 8, include_video_frames=False)
    assert len(ImageDataset(videos_only, 8)) == 2  # falls back to video frames


# -------------------------------------------------------------------------------------------------- datasets
@pytest.mark.parametrize("resolution", [8, 16])
def test_shapes_and_ranges(mixed_cache, resolution):
    out, _ = mixed_cache
    r = resolution
    for dataset, shape in [
        (ImageDataset(out, r), (3, r, r)),
        (ImageDataset(out, r, include_video_frames=True), (3, r, r)),
        (FramePairDataset(out, r), (2, 3, r, r)),
        (SameFrameCropsDataset(out, r), (2, 3, r, r)),
    ]:
        for n in range(4):
            x = dataset[n]
            assert x.shape == shape and x.dtype == torch.float32
            assert x.min() >= -1.0 and x.max() <= 1.0 and x.std() > 0
    assert len(ImageDataset(out, r)) == 3 and len(ImageDataset(out, r, include_video_frames=True)) == 3 + 16
    assert len(FramePairDataset(out, r)) == len(SameFrameCropsDataset(out, r)) == 3


def test_image_crops_and_flips(coded_cache):
    dataset = ImageDataset(coded_cache, 16, include_video_frames=False)
    starts, flips = set(), set()
    for n in range(40):
        cols = _columns(dataset[n])
        step = np.diff(cols)
        assert (step == step[0]).all() and abs(step[0]) == 1  # a contiguous window, maybe mirrored
        flips.add(int(step[0]))
        starts.add(int(cols.min()))
        assert cols.min() >= 0 and cols.max() <= 31
    assert flips == {-1, 1} and len(starts) > 5


def test_pairs_are_two_distinct_frames_with_a_joint_crop(coded_cache):
    dataset = FramePairDataset(coded_cache, 16)
    orders = set()
    for n in range(40):
        pair = dataset[n]
        first, second = _frame_ids(pair)
        assert first != second
        orders.add(first < second)
        codes = _decode(pair)
        assert np.array_equal(codes[0, 1:], codes[1, 1:])  # same crop and flip (column and row codes)
    assert orders == {True, False}  # random order


def test_same_frame_crops_differ(coded_cache):
    for resolution in (8, 16):
        dataset = SameFrameCropsDataset(coded_cache, resolution)
        for n in range(30):
            pair = dataset[n]
            assert not torch.equal(pair[0], pair[1])
            if resolution == 16:
                codes = _decode(pair)
                assert codes[0, 0, 0, 0] == codes[1, 0, 0, 0]  # one frame
    # the wide clip at its native size: official behaviour, two r-crops shifted along the long side only
    dataset = SameFrameCropsDataset(coded_cache, 16)
    wide_samples = 0
    for n in range(30):
        codes = _decode(dataset[n])
        if not np.array_equal(codes[:, 2, :, 0], np.tile(np.arange(16) * CODE_ROW, (2, 1))):
            continue  # a resized crop of the square clip
        wide_samples += 1
        shift = abs(int(_columns(dataset[n][0]).min()) - int(_columns(dataset[n][1]).min()))
        assert shift >= dataset.min_shift
    assert wide_samples > 5


def test_same_seed_same_samples(mixed_cache):
    out, _ = mixed_cache
    for cls in (ImageDataset, FramePairDataset, SameFrameCropsDataset):
        a, b, c = cls(out, 8, seed=5), cls(out, 8, seed=5), cls(out, 8, seed=6)
        assert all(torch.equal(a[n], b[n]) for n in range(6))
        assert not all(torch.equal(a[n], c[n]) for n in range(6))
        assert torch.equal(a.with_seed(6)[3], c[3]) and a.seed == 5
    with pytest.raises(ValueError, match="seed"):
        ImageDataset(out, 8, seed=-1)


def test_each_epoch_visits_every_item_once(coded_cache):
    dataset = ImageDataset(coded_cache, 16, include_video_frames=True)  # 1 image + 8 frames
    count = len(dataset)
    assert count == 9
    for epoch in range(2):
        seen = [dataset.item_index(n) for n in range(epoch * count, (epoch + 1) * count)]
        assert sorted(seen) == list(range(count))


def test_resume_from_an_offset_continues_the_stream(mixed_cache):
    out, _ = mixed_cache
    dataset = FramePairDataset(out, 8)
    loader = iter(make_loader(dataset, batch_size=4, seed=3))
    reference = torch.cat([next(loader) for _ in range(3)])  # samples 0..11
    resumed = iter(make_loader(dataset, batch_size=2, seed=3, start_index=6))
    assert torch.equal(torch.cat([next(resumed) for _ in range(3)]), reference[6:12])
    with_workers = make_loader(dataset, batch_size=4, seed=3, start_index=4, num_workers=2, num_samples=8)
    assert torch.equal(torch.cat(list(with_workers)), reference[4:12])


def test_stream_sampler_splits_processes():
    assert list(StreamSampler(4, num_samples=8, batch_size=2, process_index=0, num_processes=2)) == [4, 5, 8, 9]
    assert list(StreamSampler(4, num_samples=8, batch_size=2, process_index=1, num_processes=2)) == [6, 7, 10, 11]
    assert len(StreamSampler(0, num_samples=10, batch_size=2, process_index=1, num_processes=2)) == 4
    endless = iter(StreamSampler(7))
    assert [next(endless) for _ in range(3)] == [7, 8, 9]
    with pytest.raises(ValueError):
        StreamSampler(0, process_index=2, num_processes=2)


def test_manifest_is_plain_json(mixed_cache):
    out, _ = mixed_cache
    text = (out / "manifest.json").read_text()
    assert json.loads(text)["format"] == "deeplandscape-hf-cache"
    assert all(p.suffix in (".npy", ".json") for p in out.rglob("*") if p.is_file())
    assert os.path.getsize(out / "manifest.json") > 0
