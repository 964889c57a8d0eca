"""Optical flow and the amount of motion (supplement Table 2, "Flow x1e-3"): the sky should move, the land should not.

The authors estimated flow with Super SloMo's flow network (a checkpoint this package neither ships nor implements) and
reported ``flow_l2 = sqrt(mean|fx|² + mean|fy|²)``: the means of the absolute x and y flow over the movable mask,
pooled over all consecutive frame pairs, then combined. Their flow was computed on frames upsampled to 1024² and
divided by 512, i.e. expressed in normalised image coordinates ([-1, 1] spans the frame), so a value does not depend
on resolution. We use the same unit: a displacement of d pixels in a frame of width W is ``2 d / W`` (height for y),
and tables show it x1e-3 like the supplement (their EOIFS: 2.6e-3, about 0.33 px per frame at 256 px).

Estimators: OpenCV Farneback or DIS (classical, no weights, always available) and torchvision RAFT-small when its
weights are already in the torch hub cache (never downloaded). Absolute numbers depend on the estimator: SloMo,
RAFT and Farneback agree on large smooth motions but not on faint texture, so compare variants under one estimator.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ._common import UNIT_RANGE, ValueRange, hub_checkpoint_path, to_mask, to_unit_video

FLOW_METHODS = ("farneback", "dis", "raft", "auto")

# Farneback settings: 3-level pyramid (handles the few-pixel steps between frames), 15 px averaging window (stable on
# low-texture sky), polynomial expansion n=5 / sigma=1.1 (OpenCV's recommended pair).
_FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.1, flags=0)


def _raft_url() -> str:
    from torchvision.models.optical_flow import Raft_Small_Weights

    return Raft_Small_Weights.DEFAULT.url


def raft_weights_available() -> bool:
    """Whether torchvision's RAFT-small weights are in the torch hub cache (only then is RAFT used)."""
    return hub_checkpoint_path(_raft_url()).is_file()


def resolve_flow_method(method: str) -> tuple[str, str | None]:
    """Map ``method`` to the estimator that will run, plus a note when it had to fall back.

    ``"raft"`` and ``"auto"`` use RAFT when its weights are cached, else Farneback; an explicit ``"raft"`` that falls
    back also warns, since the numbers then come from a different estimator than asked for.
    """
    if method in ("farneback", "dis"):
        return method, None
    if method in ("raft", "auto"):
        if raft_weights_available():
            return "raft", None
        note = (
            f"RAFT-small weights ({hub_checkpoint_path(_raft_url()).name}) are not in the torch hub cache; "
            "used the classical Farneback estimator instead"
        )
        if method == "raft":
            warnings.warn(note, stacklevel=3)
        return "farneback", note
    raise ValueError(f"flow method must be one of {FLOW_METHODS}, got {method!r}")


@functools.lru_cache(maxsize=1)
def _load_raft() -> torch.nn.Module:
    from torchvision.models.optical_flow import Raft_Small_Weights, raft_small

    return raft_small(weights=Raft_Small_Weights.DEFAULT, progress=False).eval()


def _to_uint8_frames(frames: Any, value_range: ValueRange) -> np.ndarray:
    """Frames -> uint8 ``(T, H, W, 3)`` RGB, the input OpenCV estimators expect."""
    video = to_unit_video(frames, value_range)
    return (video * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _classical_flow(rgb_a: np.ndarray, rgb_b: np.ndarray, method: str) -> np.ndarray:
    gray_a = cv2.cvtColor(rgb_a, cv2.COLOR_RGB2GRAY)
    gray_b = cv2.cvtColor(rgb_b, cv2.COLOR_RGB2GRAY)
    if method == "dis":
        estimator = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return estimator.calc(gray_a, gray_b, None).astype(np.float32)
    return cv2.calcOpticalFlowFarneback(gray_a, gray_b, None, **_FARNEBACK).astype(np.float32)


@torch.no_grad()
def _raft_flow(rgb_a: np.ndarray, rgb_b: np.ndarray, batch_size: int = 4) -> np.ndarray:
    """RAFT-small flow for aligned stacks ``(P, H, W, 3)`` -> ``(P, H, W, 2)`` pixels.

    RAFT needs sides that are multiples of 8 and at least 128 (its correlation pyramid), so frames are resized to the
    nearest such size and the flow is resized back, its x and y rescaled to the original pixel grid.
    """
    model = _load_raft()
    height, width = rgb_a.shape[1:3]
    scale = max(1.0, 128.0 / min(height, width))
    work_h, work_w = (int(math.ceil(side * scale / 8)) * 8 for side in (height, width))
    rescale = torch.tensor([width / work_w, height / work_h]).view(1, 2, 1, 1)
    out = []
    for start in range(0, rgb_a.shape[0], batch_size):
        pair = [
            torch.from_numpy(x[start : start + batch_size]).permute(0, 3, 1, 2).float() / 127.5 - 1
            for x in (rgb_a, rgb_b)
        ]
        if (work_h, work_w) != (height, width):
            pair = [F.interpolate(x, size=(work_h, work_w), mode="bilinear", align_corners=False) for x in pair]
        flow = model(*pair)[-1]
        if (work_h, work_w) != (height, width):
            flow = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False) * rescale
        out.append(flow.permute(0, 2, 3, 1).numpy())
    return np.concatenate(out).astype(np.float32)


def flow_between(
    frame_a: Any, frame_b: Any, method: str = "farneback", *, value_range: ValueRange = UNIT_RANGE
) -> np.ndarray:
    """Dense optical flow from ``frame_a`` to ``frame_b`` in pixels, ``(H, W, 2)`` (x, y).

    Convention: ``frame_a[y, x] ~ frame_b[y + fy, x + fx]``, so content moving right gives positive fx. Frames are
    ``(3, H, W)`` float (``value_range``) or uint8 ``(H, W, 3)``; see :func:`resolve_flow_method` for ``method``.
    """
    used, _ = resolve_flow_method(method)
    rgb = _to_uint8_frames([frame_a, frame_b], value_range)
    if used == "raft":
        return _raft_flow(rgb[:1], rgb[1:])[0]
    return _classical_flow(rgb[0], rgb[1], used)


@dataclass
class VideoFlow:
    """Flow of consecutive frame pairs in normalised coordinates, ``(T - 1, H, W, 2)``, and how it was estimated."""

    flow: np.ndarray
    method: str
    note: str | None = None


def normalise_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pixel flow -> normalised image coordinates (the frame spans [-1, 1]): x * 2 / W, y * 2 / H."""
    return flow * np.array([2.0 / width, 2.0 / height], dtype=np.float32)


def video_flow(frames: Any, method: str = "farneback", *, value_range: ValueRange = UNIT_RANGE) -> VideoFlow:
    """Flow between frames t and t + 1 for every t, normalised; ``frames`` is ``(T, 3, H, W)`` or ``(T, H, W, 3)``."""
    used, note = resolve_flow_method(method)
    rgb = _to_uint8_frames(frames, value_range)
    if rgb.shape[0] < 2:
        raise ValueError(f"need at least 2 frames to measure motion, got {rgb.shape[0]}")
    if used == "raft":
        pixels = _raft_flow(rgb[:-1], rgb[1:])
    else:
        pixels = np.stack([_classical_flow(rgb[t], rgb[t + 1], used) for t in range(rgb.shape[0] - 1)])
    return VideoFlow(normalise_flow(pixels, *rgb.shape[1:3]), used, note)


def masked_flow_l2(flow: np.ndarray, mask: np.ndarray | None = None) -> float:
    """The authors' ``flow_l2``: sqrt(mean|fx|² + mean|fy|²), the means of |fx| and |fy| over the mask pixels of all
    pairs in ``flow`` ``(P, H, W, 2)``. NaN for an empty mask (as theirs)."""
    if mask is None:
        selected = flow.reshape(-1, 2)
    else:
        selected = flow[:, np.asarray(mask, dtype=bool)].reshape(-1, 2)
    if selected.shape[0] == 0:
        return float("nan")
    mean_x, mean_y = np.abs(selected).mean(axis=0, dtype=np.float64)
    return float(np.hypot(mean_x, mean_y))


def _mask_array(mask: Any, size: tuple[int, int]) -> np.ndarray:
    m = to_mask(mask, size)
    if m.shape[0] != 1:
        raise ValueError(f"expected one mask for the whole video, got a batch of {m.shape[0]}")
    return m[0, 0].numpy() > 0.5


def motion_amount(
    frames: Any, mask: Any = None, method: str = "farneback", *, value_range: ValueRange = UNIT_RANGE
) -> float:
    """Amount of motion inside ``mask`` (``(H, W)``; None = whole frame) in normalised units per frame.

    Multiply by 1e3 for the supplement's "Flow x1e-3" column.
    """
    flow = video_flow(frames, method, value_range=value_range)
    size = flow.flow.shape[1:3]
    return masked_flow_l2(flow.flow, None if mask is None else _mask_array(mask, size))


def motion_in_regions(
    frames: Any,
    dynamic_mask: Any,
    method: str = "farneback",
    *,
    value_range: ValueRange = UNIT_RANGE,
    static_margin_px: float = 0.0,
) -> dict[str, Any]:
    """Motion in the dynamic region (sky/water) and in the static rest, from one flow computation.

    Returns ``dynamic`` and ``static`` (normalised units), their x1e-3 versions, ``dynamic_px`` and ``static_px`` (mean
    motion in pixels per frame at the frames' size), ``ratio`` = dynamic / static (inf when the land is perfectly
    still), and the estimator that ran (``method``) with a ``note`` when it fell back.

    ``static_margin_px`` leaves static pixels that close to the dynamic region out of the static figures: a flow
    estimator's window (Farneback's is 15 px) reports a moving sky's motion on the still land right beside it.
    """
    flow = video_flow(frames, method, value_range=value_range)
    height, width = flow.flow.shape[1:3]
    dynamic_region = _mask_array(dynamic_mask, (height, width))
    static_region = ~dynamic_region
    if static_margin_px > 0 and dynamic_region.any():
        from scipy import ndimage

        static_region &= ndimage.distance_transform_edt(static_region) > static_margin_px
    dynamic = masked_flow_l2(flow.flow, dynamic_region)
    static = masked_flow_l2(flow.flow, static_region)
    ratio = dynamic / static if static > 0 else (float("inf") if dynamic > 0 else float("nan"))
    # What a viewer sees: the mean length of the per-pixel motion in output pixels per frame.
    speed_px = np.linalg.norm(flow.flow * np.array([width / 2.0, height / 2.0], dtype=np.float32), axis=-1).mean(0)
    return {
        "dynamic": dynamic,
        "static": static,
        "ratio": ratio,
        "dynamic_x1e3": dynamic * 1e3,
        "static_x1e3": static * 1e3,
        "dynamic_px": float(speed_px[dynamic_region].mean()) if dynamic_region.any() else float("nan"),
        "static_px": float(speed_px[static_region].mean()) if static_region.any() else float("nan"),
        "method": flow.method,
        "note": flow.note,
    }
