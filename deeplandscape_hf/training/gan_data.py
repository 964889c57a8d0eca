"""Real data of the GAN: the multi-resolution cache (built once, by the main process) and its samplers."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from . import run_control
from .configs import GanTrainingConfig
from .run import TrainingInputError, check_folders, releases_run_resources

logger = logging.getLogger(__name__)


class RealSampler:
    """Real batches from a ``datasets.CachedStreamDataset``: sample n of the stream depends only on (seed, n).

    ``counters[name]`` is the global number of samples this stream has served (all processes together); it is
    checkpointed, so a resume continues the exact same stream. Every draw takes one global batch of consecutive
    sample numbers and gives each process its own contiguous slice (as ``datasets.StreamSampler`` does).
    """

    def __init__(self, dataset, name: str, counters: dict[str, int], process_index: int, num_processes: int):
        self.dataset = dataset
        self.name = name
        self.counters = counters
        self.process_index = process_index
        self.num_processes = num_processes

    def batch(self, size: int, device: torch.device) -> torch.Tensor:
        first = self.counters[self.name] + self.process_index * size
        items = [self.dataset[n] for n in range(first, first + size)]
        self.counters[self.name] += size * self.num_processes
        return torch.stack(items).to(device)


def prepare_data_cache(
    accelerator,
    image_dirs: list[Path],
    video_dirs: list[Path],
    cache_dir: Path,
    resolutions: list[int],
    config: GanTrainingConfig,
    args: argparse.Namespace,
) -> None:
    """Build (or top up) the data cache on the main process while the others wait; every process gets its verdict.

    What was skipped is logged per input; when what is left cannot feed both discriminators the error says what
    happened to every input, before any training starts.
    """
    from . import data

    def prepare() -> None:
        if not (image_dirs or video_dirs):
            missing = sorted(set(resolutions) - set(data.load_manifest(cache_dir)["resolutions"]))
            if missing:
                raise TrainingInputError(
                    f"--cache_dir {cache_dir} lacks {missing} px and no source folders were given to add them."
                )
            return
        summary = data.prepare_dataset(image_dirs, video_dirs, cache_dir, resolutions)
        logger.info("data %s", summary)
        if config.use_pairwise and video_dirs and summary.num_videos == 0:
            raise TrainingInputError(
                f"{summary.all_skipped_message('video')}; see the warnings above. Config '{config.name}' trains the "
                "pairwise discriminator, which needs at least one usable video."
            )
        if image_dirs and summary.num_images == 0:
            if args.video_frames_as_images == "no" or summary.num_videos == 0:
                raise TrainingInputError(
                    f"{summary.all_skipped_message('image')}; see the warnings above. The image discriminator has "
                    "nothing to train on (--video_frames_as_images yes would let it use video frames)."
                )
            logger.warning(
                "%s: the image discriminator trains on video frames instead", summary.all_skipped_message("image")
            )

    error = run_control.agree_on_error(accelerator, prepare, (ValueError, OSError))
    if error:
        raise TrainingInputError(error)


def cache_has(cache_dir: Path, kind: str) -> bool:
    """Whether a prepared cache already holds ``kind`` ('images' / 'videos') so no source folder is needed."""
    from . import data

    try:
        return bool(data.load_manifest(cache_dir).get(kind))
    except (FileNotFoundError, ValueError, OSError):
        return False


def build_samplers(
    cache_dir: Path,
    resolution: int,
    config: GanTrainingConfig,
    seed: int,
    counters: dict[str, int],
    accelerator,
    video_frames_as_images: str = "auto",
) -> dict[str, RealSampler]:
    """Real-data samplers at one resolution (rebuilt at every resolution change, like the official loaders)."""
    from . import datasets

    rank, count = accelerator.process_index, accelerator.num_processes
    try:
        samplers = {
            "images": RealSampler(
                datasets.ImageDataset(
                    cache_dir,
                    resolution,
                    seed,
                    include_video_frames={"auto": None, "yes": True, "no": False}[video_frames_as_images],
                ),
                "images",
                counters,
                rank,
                count,
            )
        }
        if config.use_pairwise:
            pairs = datasets.FramePairDataset(cache_dir, resolution, seed)
            samplers["pairs"] = RealSampler(pairs, "pairs", counters, rank, count)
            if config.crop_probability > 0:
                crops = datasets.SameFrameCropsDataset(cache_dir, resolution, seed)
                samplers["crops"] = RealSampler(crops, "crops", counters, rank, count)
    except ValueError as error:
        raise TrainingInputError(str(error)) from error
    return samplers


@releases_run_resources
def run_prepare(args: argparse.Namespace) -> int:
    """The ``prepare`` subcommand: a thin wrapper on ``data.prepare_dataset``."""
    from . import data

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    image_dirs = check_folders(args.image_dir, "--image_dir", "images")
    video_dirs = check_folders(args.video_dir, "--video_dir", "videos")
    if not image_dirs and not video_dirs:
        raise TrainingInputError("nothing to prepare: pass --image_dir and/or --video_dir.")
    try:
        stats = data.prepare_dataset(image_dirs, video_dirs, Path(args.cache_dir).expanduser(), args.resolutions)
    except data.NoUsableInputError as error:
        raise TrainingInputError(str(error)) from error
    logger.info("data %s", stats)
    return 0
