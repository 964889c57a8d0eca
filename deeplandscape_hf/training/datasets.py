"""Training data, second half: reproducible sample streams over the cache that :mod:`.data` prepares.

Mirrors the official `datasets.py` (square RandomCrop + flip for images; two distinct random frames of a clip for real
pairs; two crops of one frame for fake pairs), paper Sec. 3.2. A sample depends only on (seed, sample number), so a
resumed run draws exactly the continuation an uninterrupted one would have.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from .data import MIN_FRAMES_PER_VIDEO, PathLike, cache_path, load_manifest


def _check_seed(seed: int) -> int:
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}.")
    return int(seed)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1].

    The arithmetic runs in numpy: on small per-sample arrays torch's intra-op threads cost more than they save,
    badly so on a busy machine.
    """
    scaled = np.moveaxis(np.asarray(image, dtype=np.float32), -1, -3) / np.float32(127.5) - np.float32(1.0)
    return torch.from_numpy(np.ascontiguousarray(scaled))


class CachedStreamDataset(Dataset):
    """An endless, reproducible, shuffled stream over cached items.

    ``dataset[n]`` is sample number n: epoch ``n // len(dataset)`` visits every item once in an order drawn from
    (seed, epoch), and the sample's own randomness (frames, crops, flips) comes from a generator seeded with
    (seed, n). So a sample depends only on (seed, n): resuming after n samples, with any batch size or number of
    workers, reproduces the same continuation. ``len(dataset)`` is one epoch.
    """

    _SALT = 0  # separates the random streams of different dataset kinds sharing one seed

    def __init__(self, cache_dir: PathLike, resolution: int, seed: int = 0):
        self.cache_dir = Path(cache_dir)
        self.manifest = load_manifest(self.cache_dir)
        if resolution not in self.manifest["resolutions"]:
            raise ValueError(
                f"resolution {resolution} is not cached in {cache_dir} (cached: {self.manifest['resolutions']}); "
                "re-run prepare_dataset with it."
            )
        self.resolution = int(resolution)
        self.seed = _check_seed(seed)
        self._order_cache: tuple[int, np.ndarray] | None = None

    def _num_items(self) -> int:
        raise NotImplementedError

    def __len__(self) -> int:
        return self._num_items()

    def with_seed(self, seed: int) -> CachedStreamDataset:
        """A copy drawing its stream from another seed (this one is left unchanged)."""
        other = copy.copy(self)
        other.seed = _check_seed(seed)
        other._order_cache = None
        return other

    def item_index(self, index: int) -> int:
        """Which source item (0 <= item < len(self)) sample number ``index`` is drawn from."""
        if index < 0:
            raise IndexError(f"sample numbers start at 0, got {index}.")
        epoch, position = divmod(int(index), self._num_items())
        if self._order_cache is None or self._order_cache[0] != epoch:
            order = np.random.default_rng([self.seed, self._SALT, 0, epoch]).permutation(self._num_items())
            self._order_cache = (epoch, order)
        return int(self._order_cache[1][position])

    def _item_and_rng(self, index: int) -> tuple[int, np.random.Generator]:
        return self.item_index(index), np.random.default_rng([self.seed, self._SALT, 1, int(index)])

    def _load(self, kind: Literal["images", "videos"], item_id: str, resolution: int | None = None) -> np.ndarray:
        """Memory-mapped cached array (nothing is read until sliced)."""
        return np.load(cache_path(self.cache_dir, resolution or self.resolution, kind, item_id), mmap_mode="r")

    def _square_offset(self, height: int, width: int, rng: np.random.Generator) -> tuple[int, int]:
        """Top-left corner of a random resolution x resolution crop (moves along the long side only)."""
        r = self.resolution
        return int(rng.integers(0, height - r + 1)), int(rng.integers(0, width - r + 1))


class ImageDataset(CachedStreamDataset):
    """Still images for the image discriminator: float (3, r, r) in [-1, 1].

    A random square crop along the long side and a random horizontal flip (official MultiResolutionImageDataset).
    include_video_frames: None uses video frames as images only when the cache has no images; True adds them to
    the images; False never (the official image D sees still photos only).
    """

    _SALT = 1

    def __init__(self, cache_dir: PathLike, resolution: int, seed: int = 0, include_video_frames: bool | None = None):
        super().__init__(cache_dir, resolution, seed)
        self._images = [e["id"] for e in self.manifest["images"]]
        use_frames = include_video_frames if include_video_frames is not None else not self._images
        self._videos = [e["id"] for e in self.manifest["videos"]] if use_frames else []
        frame_counts = [e["num_frames"] for e in self.manifest["videos"]] if use_frames else []
        self._frame_starts = np.cumsum([0, *frame_counts])  # item k >= len(images) is a frame of a video
        if self._num_items() == 0:
            what = "images or video frames" if use_frames else "images"
            raise ValueError(f"no {what} in the cache {cache_dir}: pass image_dirs (or video_dirs) to prepare_dataset.")

    def _num_items(self) -> int:
        return len(self._images) + int(self._frame_starts[-1])

    def __getitem__(self, index: int) -> torch.Tensor:
        item, rng = self._item_and_rng(index)
        if item < len(self._images):
            image = self._load("images", self._images[item])
        else:
            frame_number = item - len(self._images)
            video = int(np.searchsorted(self._frame_starts, frame_number, side="right")) - 1
            image = self._load("videos", self._videos[video])[frame_number - self._frame_starts[video]]
        y, x = self._square_offset(image.shape[0], image.shape[1], rng)
        crop = image[y : y + self.resolution, x : x + self.resolution]
        if rng.uniform() < 0.5:
            crop = crop[:, ::-1]
        return _to_tensor(crop)


class _VideoStream(CachedStreamDataset):
    def __init__(self, cache_dir: PathLike, resolution: int, seed: int = 0):
        super().__init__(cache_dir, resolution, seed)
        self._videos = [e for e in self.manifest["videos"] if e["num_frames"] >= MIN_FRAMES_PER_VIDEO]
        if not self._videos:
            raise ValueError(
                f"the cache {cache_dir} has no videos, and pairwise training needs them: pass video_dirs (clips or "
                "folders of frames) to prepare_dataset."
            )

    def _num_items(self) -> int:
        return len(self._videos)


class FramePairDataset(_VideoStream):
    """Real pairs for the pairwise discriminator: float (2, 3, r, r) in [-1, 1].

    Two distinct random frames from anywhere in one clip, in random order, with one shared crop and one shared flip
    (official MultiResolutionMultiFrameDataset).
    """

    _SALT = 2

    def __getitem__(self, index: int) -> torch.Tensor:
        item, rng = self._item_and_rng(index)
        video = self._load("videos", self._videos[item]["id"])
        first, second = rng.choice(video.shape[0], size=2, replace=False)
        y, x = self._square_offset(video.shape[1], video.shape[2], rng)
        r = self.resolution
        pair = np.stack([video[first, y : y + r, x : x + r], video[second, y : y + r, x : x + r]])
        if rng.uniform() < 0.5:
            pair = pair[:, :, ::-1]
        return _to_tensor(pair)


class SameFrameCropsDataset(_VideoStream):
    """Fake pairs for the pairwise discriminator: two crops of one frame, float (2, 3, r, r) in [-1, 1].

    Official (MultiResolutionMultiCropDataset): two independent RandomCrop(r) of a frame whose shorter side is r,
    so the crops only differ along the long side and coincide on square frames. Ours keeps that exactly when the
    long side has room, and otherwise guarantees a visible shift, so the pair always teaches "land moved = fake":
      * the two crops are at least ``min_shift = max(1, round(min_shift_fraction * r))`` pixels apart;
      * if the long side leaves less than 2 * min_shift of slack (square-ish frames), both crops use a smaller
        square window (shorter side - 2 * min_shift, same for both) that can move along both axes, cut from the
        next larger cached resolution when there is one (so the resize to r is a sharp downscale), else upscaled.
    One shared horizontal flip.
    """

    _SALT = 3

    def __init__(self, cache_dir: PathLike, resolution: int, seed: int = 0, min_shift_fraction: float = 1 / 16):
        super().__init__(cache_dir, resolution, seed)
        if not 0 < min_shift_fraction < 0.5:
            raise ValueError(f"min_shift_fraction must be in (0, 0.5), got {min_shift_fraction}.")
        self.min_shift = max(1, round(min_shift_fraction * resolution))
        larger = [r for r in self.manifest["resolutions"] if r > resolution]
        self._larger_resolution = min(larger) if larger else None

    def __getitem__(self, index: int) -> torch.Tensor:
        item, rng = self._item_and_rng(index)
        entry = self._videos[item]
        r = self.resolution
        height, width = entry["shapes"][str(r)]
        frame_index = int(rng.integers(0, entry["num_frames"]))
        if max(height, width) - r >= 2 * self.min_shift:  # official: two r-crops along the long side
            frame = self._load("videos", entry["id"])[frame_index]
            window, shift = r, self.min_shift
        else:
            source_res = self._larger_resolution or r
            frame = self._load("videos", entry["id"], source_res)[frame_index]
            scale = source_res / r
            shift = math.ceil(self.min_shift * scale)
            window = min(frame.shape[:2]) - 2 * shift
        first, second = self._two_offsets(frame.shape[0] - window, frame.shape[1] - window, shift, rng)
        crops = np.stack([frame[y : y + window, x : x + window] for y, x in (first, second)])
        if rng.uniform() < 0.5:
            crops = crops[:, :, ::-1]
        pair = _to_tensor(crops)
        if window != r:
            pair = F.interpolate(pair, size=(r, r), mode="bilinear", align_corners=False, antialias=window > r)
        return pair

    @staticmethod
    def _two_offsets(
        slack_y: int, slack_x: int, shift: int, rng: np.random.Generator
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """Two uniform crop corners at least ``shift`` apart (max norm); needs slack >= 2 * shift on some axis."""
        first = (int(rng.integers(0, slack_y + 1)), int(rng.integers(0, slack_x + 1)))
        for _ in range(32):
            second = (int(rng.integers(0, slack_y + 1)), int(rng.integers(0, slack_x + 1)))
            if max(abs(second[0] - first[0]), abs(second[1] - first[1])) >= shift:
                return first, second
        # rare: the far end of the roomier axis is always >= slack / 2 >= shift away
        if slack_x >= slack_y:
            return first, (first[0], 0 if first[1] > slack_x / 2 else slack_x)
        return first, (0 if first[0] > slack_y / 2 else slack_y, first[1])


# ------------------------------------------------------------------------------------------------------- loading
class StreamSampler(Sampler[int]):
    """Sample numbers ``start_index, start_index + 1, ...`` for a ``CachedStreamDataset`` dataset (endless by default).

    With several processes, every global batch of ``batch_size * num_processes`` consecutive numbers is split into
    one contiguous slice per process, so ``start_index`` is always the global number of samples consumed.
    """

    def __init__(
        self,
        start_index: int = 0,
        num_samples: int | None = None,
        batch_size: int = 1,
        process_index: int = 0,
        num_processes: int = 1,
    ):
        if start_index < 0 or batch_size < 1 or num_processes < 1 or not 0 <= process_index < num_processes:
            raise ValueError(
                f"need start_index >= 0, batch_size >= 1 and 0 <= process_index < num_processes, got {start_index}, "
                f"{batch_size}, {process_index}, {num_processes}."
            )
        if num_samples is not None and num_samples < 0:
            raise ValueError(f"num_samples must be >= 0 or None, got {num_samples}.")
        self.start_index = start_index
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.process_index = process_index
        self.num_processes = num_processes

    def __iter__(self) -> Iterator[int]:
        global_batch = self.batch_size * self.num_processes
        end = None if self.num_samples is None else self.start_index + self.num_samples
        step = 0
        while True:
            first = self.start_index + step * global_batch + self.process_index * self.batch_size
            for n in range(first, first + self.batch_size):
                if end is not None and n >= end:
                    return
                yield n
            step += 1

    def __len__(self) -> int:
        if self.num_samples is None:
            raise TypeError("an endless StreamSampler has no length; pass num_samples for a finite one.")
        full, rest = divmod(self.num_samples, self.batch_size * self.num_processes)
        return full * self.batch_size + min(max(rest - self.process_index * self.batch_size, 0), self.batch_size)


def make_loader(
    dataset: CachedStreamDataset,
    batch_size: int,
    seed: int | None = None,
    start_index: int = 0,
    num_workers: int = 0,
    *,
    num_samples: int | None = None,
    process_index: int = 0,
    num_processes: int = 1,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader over ``dataset``'s endless stream, starting at sample number ``start_index``.

    To resume training, pass the number of samples (images) consumed so far: the batches that follow are exactly
    those an uninterrupted run would have drawn, whatever the batch size or worker count. ``seed`` (when given)
    replaces the dataset's seed on a copy. For multi-process training pass ``process_index``/``num_processes``
    (e.g. ``accelerator.process_index``/``num_processes``) instead of ``accelerator.prepare``-ing the loader.
    """
    if seed is not None:
        dataset = dataset.with_seed(seed)
    sampler = StreamSampler(start_index, num_samples, batch_size, process_index, num_processes)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=False,
        persistent_workers=num_workers > 0,
    )
