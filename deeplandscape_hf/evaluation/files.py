"""Finding, pairing and reading the files an evaluation compares: videos (files or folders of frames), photos, masks.

Everything that can be wrong with them (unmatched names, unreadable or too-short videos, masks of another shape) is
found here before the expensive part runs, and every message names the files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from .results import EvaluationInputError

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".gif", ".webp")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MASK_NAME_SUFFIXES = ("", "_mask")  # lake.png or lake_mask.png for lake.jpg
FRAME_FILE_SUFFIXES = (".png", ".jpg", ".jpeg")
ASPECT_TOLERANCE = 0.01  # a mask within 1 % of the photo's aspect ratio was drawn on a resized copy of it


def _is_frame_folder(path: Path) -> bool:
    """A folder of numbered frames (the official metrics read videos as ``00000.jpg``, ``00001.jpg``, ...)."""
    if not path.is_dir():
        return False
    return any(
        child.is_file() and child.suffix.lower() in FRAME_FILE_SUFFIXES and child.stem[-1:].isdigit()
        for child in path.iterdir()
    )


def find_videos(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into a sorted list of videos (files with a video suffix, or numbered-frame folders).

    A folder that itself holds numbered frames is one video; any other folder is scanned one level deep for video
    files and frame folders, hidden ones left out (an unfinished ``.NAME.partial`` that an interrupted writer left
    behind is not a video). A path that does not exist, or a folder with no video in it, is an error naming it.
    """
    found: list[Path] = []
    missing, empty, not_video = [], [], []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            missing.append(str(path))
        elif path.is_file():
            (found if path.suffix.lower() in VIDEO_SUFFIXES else not_video).append(path)
        elif _is_frame_folder(path):
            found.append(path)
        else:
            inside = sorted(
                child
                for child in path.iterdir()
                if not child.name.startswith(".")
                and ((child.is_file() and child.suffix.lower() in VIDEO_SUFFIXES) or _is_frame_folder(child))
            )
            if not inside:
                empty.append(str(path))
            found.extend(inside)
    problems = []
    if missing:
        problems.append(f"not found: {', '.join(missing)}")
    if not_video:
        problems.append(
            f"not videos (expected {', '.join(VIDEO_SUFFIXES)} or a folder of numbered frames): "
            + ", ".join(str(p) for p in not_video)
        )
    if empty:
        problems.append(f"no videos (or numbered-frame folders) inside: {', '.join(empty)}")
    if problems:
        raise EvaluationInputError("; ".join(problems) + ".")
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)  # the same file named twice (a folder and a file in it) counts once
    return sorted(unique.values())


def find_photos(paths: Sequence[str | os.PathLike]) -> dict[str, Path]:
    """Photos by file stem, from files and folders (one level). Two photos with one stem are an error naming both."""
    by_stem: dict[str, list[Path]] = {}
    missing, not_photo = [], []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            missing.append(str(path))
            continue
        if path.is_dir():
            candidates = sorted(c for c in path.iterdir() if c.is_file() and c.suffix.lower() in PHOTO_SUFFIXES)
        elif path.suffix.lower() in PHOTO_SUFFIXES:
            candidates = [path]
        else:
            not_photo.append(str(path))
            continue
        for candidate in candidates:
            by_stem.setdefault(candidate.stem, [])
            if candidate not in by_stem[candidate.stem]:
                by_stem[candidate.stem].append(candidate)
    problems = []
    if missing:
        problems.append(f"not found: {', '.join(missing)}")
    if not_photo:
        problems.append(f"not photos (expected {', '.join(PHOTO_SUFFIXES)}): {', '.join(not_photo)}")
    clashes = {stem: files for stem, files in by_stem.items() if len(files) > 1}
    if clashes:
        listed = "; ".join(" and ".join(str(f) for f in files) for files in clashes.values())
        problems.append(f"several photos share a name, so videos cannot be matched to one of them: {listed}")
    if problems:
        raise EvaluationInputError("; ".join(problems) + ".")
    if not by_stem:
        raise EvaluationInputError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) in {', '.join(map(str, paths))}.")
    return {stem: files[0] for stem, files in sorted(by_stem.items())}


def video_stem(video: Path) -> str:
    return video.name if video.is_dir() else video.stem


def match_videos_to_photos(videos: Sequence[Path], photos: Mapping[str, Path]) -> list[tuple[Path, str]]:
    """Pair each video with the photo it animates: ``name.mp4`` or ``name_<anything>.mp4`` <-> photo ``name.*``.

    The longest matching photo name wins (``lake_2_animated.mp4`` goes to ``lake_2.jpg``, not ``lake.jpg``). Videos
    that match no photo are an error that lists them with the photo names that were available.
    """
    pairs, unmatched = [], []
    stems = sorted(photos, key=len, reverse=True)
    for video in videos:
        name = video_stem(video)
        stem = name if name in photos else next((s for s in stems if name.startswith(s + "_")), None)
        if stem is None:
            unmatched.append(video)
        else:
            pairs.append((video, stem))
    if unmatched:
        shown = ", ".join(sorted(photos)[:20]) + (" ..." if len(photos) > 20 else "")
        raise EvaluationInputError(
            "no input photo matches these videos (a video 'NAME.mp4' or 'NAME_*.mp4' needs a photo 'NAME.jpg'): "
            + ", ".join(str(v) for v in unmatched)
            + f". Photos available: {shown}."
        )
    return pairs


def find_masks(folder: str | os.PathLike, stems: Iterable[str]) -> dict[str, Path]:
    """The mask of each photo stem in ``folder`` (``NAME.png`` or ``NAME_mask.png``); missing ones are an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EvaluationInputError(f"mask folder '{folder}' does not exist or is not a folder.")
    files = {c.name.lower(): c for c in folder.iterdir() if c.is_file() and c.suffix.lower() in MASK_SUFFIXES}
    masks, missing = {}, []
    for stem in stems:
        match = next(
            (
                files[f"{stem}{tail}{suffix}".lower()]
                for tail in MASK_NAME_SUFFIXES
                for suffix in MASK_SUFFIXES
                if f"{stem}{tail}{suffix}".lower() in files
            ),
            None,
        )
        if match is None:
            missing.append(stem)
        else:
            masks[stem] = match
    if missing:
        raise EvaluationInputError(
            f"no mask in '{folder}' for: {', '.join(missing)} (expected NAME.png or NAME_mask.png per photo)."
        )
    return masks


def fit_to_size(image: np.ndarray, size: tuple[int, int], *, mask: bool = False) -> np.ndarray:
    """Scale ``image`` to cover ``size`` = (H, W) and center-crop it: the photo as the video frames show it.

    Composited animations keep the photo's aspect ratio (a plain resize); raw generator frames are its centre square
    (the official preprocessing ends with a centre crop). Bilinear for photos; masks (float (H, W)) are resampled
    bilinearly too and stay soft, the metrics threshold them at 0.5.
    """
    height, width = image.shape[:2]
    target_h, target_w = size
    if (height, width) == (target_h, target_w):
        return image
    scale = max(target_h / height, target_w / width)
    new_w, new_h = max(target_w, round(width * scale)), max(target_h, round(height * scale))
    if mask:
        pil = Image.fromarray(np.asarray(image, dtype=np.float32))
    else:
        pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    resized = np.asarray(pil.resize((new_w, new_h), Image.Resampling.BILINEAR))
    top, left = (new_h - target_h) // 2, (new_w - target_w) // 2
    return np.ascontiguousarray(resized[top : top + target_h, left : left + target_w])


def trim_even_padding(frames: np.ndarray, photo_hw: tuple[int, int]) -> np.ndarray:
    """Drop the edge row/column ``write_video`` adds to odd-sized mp4s, when that is all that differs from the photo.

    Otherwise the input would be stretched by one pixel to match, which blurs it and lowers SSIM for nothing.
    """
    height, width = frames.shape[1:3]
    ph, pw = photo_hw
    if (height, width) != (ph, pw) and height in (ph, ph + ph % 2) and width in (pw, pw + pw % 2):
        return np.ascontiguousarray(frames[:, :ph, :pw])
    return frames


def read_video_array(path: Path) -> np.ndarray:
    """uint8 (T, H, W, 3), or an error naming the file when it cannot be decoded."""
    from ..animation.video import read_video

    try:
        frames = read_video(path)
    except Exception as error:  # ffmpeg, PIL and numpy all raise their own types for a broken file
        raise EvaluationInputError(f"cannot read video '{path}': {error}") from error
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise EvaluationInputError(f"'{path}' has no usable RGB frames (decoded shape {frames.shape}).")
    return frames


def video_lengths(paths: Sequence[Path]) -> dict[Path, int]:
    """Frame count of every video, checking first that each can be opened; unreadable files are listed together."""
    from ..animation.video import video_info

    lengths, broken = {}, []
    for path in paths:
        try:
            lengths[path] = int(video_info(path).num_frames)
        except Exception as error:  # any decoder failure means "unreadable" to the user
            text = str(error).strip()
            broken.append(f"{path} ({text.splitlines()[0] if text else type(error).__name__})")
    if broken:
        raise EvaluationInputError(
            f"cannot read these videos: {'; '.join(broken)}. Each must be a complete, playable video; "
            "re-export the ones listed, or move them out of the folder."
        )
    return lengths


def load_photo(path: Path) -> np.ndarray:
    from ..animation.images import load_image

    try:
        return np.array(load_image(path))  # a writable copy: torch.from_numpy warns on PIL's read-only buffer
    except Exception as error:  # InvalidImageError, OSError: name the file either way
        raise EvaluationInputError(f"cannot read photo '{path}': {error}") from error


def load_mask_for(mask_path: Path, photo_path: Path, photo_hw: tuple[int, int]) -> tuple[np.ndarray, str | None]:
    """A user mask at the photo's size. Same aspect ratio but another size: resized with a warning naming both files;
    another aspect ratio: an error naming both (the mask was drawn on a different picture or crop)."""
    from ..animation.images import load_mask

    try:
        values = load_mask(mask_path)
    except Exception as error:
        raise EvaluationInputError(f"cannot read mask '{mask_path}': {error}") from error
    height, width = values.shape
    ph, pw = photo_hw
    if (height, width) == (ph, pw):
        return values, None
    if abs(width / height - pw / ph) > ASPECT_TOLERANCE * (pw / ph):
        raise EvaluationInputError(
            f"mask '{mask_path}' is {width}x{height} but photo '{photo_path}' is {pw}x{ph}: the aspect ratios differ, "
            "so the mask does not belong to this photo (or to this crop of it)."
        )
    note = f"mask '{mask_path}' is {width}x{height}, photo '{photo_path}' is {pw}x{ph}: mask resized to the photo"
    resized = Image.fromarray(values).resize((pw, ph), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0), note
