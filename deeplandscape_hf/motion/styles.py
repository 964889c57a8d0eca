"""Time-of-day styles: the named z_dyn targets, keyframe paths over a video, splines and slerp.

Paper section 3.4 / supplement "style vocabulary": network A moves w toward a target z_dyn by a strength t; a video's
lighting follows a path of (time, target) keyframes. Mirrors the official `configs/inference/*/style_eoif[s].yaml`
(keyframes), `encode_and_animate.SplineStyleAnimation` (clamped cubic spline) and `model.slerp` / `change_styles`
(INTERPOLATE mode of synthetic videos).

A frame's style condition is the 4-vector network A consumes after w: [z_dyn target (3), strength t].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..vocabulary import STYLE_NAMES  # one list of names for the library and the fast --help of the CLI

DYNAMIC_STYLE_SIZE = 3  # official n_frames_params.dyn_style_coordinates: z_dyn = last 3 coordinates of z
STYLE_CHANGE_COEF = 1.0  # official constants.STYLE_CHANGE_COEF (scales the slerp time of synthetic videos)
STRENGTH_LOW_RES = 0.7  # official configs/inference/256/style_*.yaml: 4th keyframe value
STRENGTH_HIGH_RES = 0.3  # official configs/inference/512/style_*.yaml
LOW_RES_MAX = 256  # resolutions up to this use STRENGTH_LOW_RES
SLERP_EPS = 1e-7  # below this sin(angle) slerp falls back to linear interpolation
SPLINE_DEGREE = 3  # official SplineStyleAnimation kwargs: k=3, bc_type='clamped'

# official style_eoifs.yaml vocabulary (fact sheet 5.6); the names are ours, the comments are the config labels.
STYLE_TARGETS: dict[str, tuple[float, float, float]] = {
    "blue_day": (-1.5, -1.5, 0.0),  # blue day
    "bright_day": (-1.5, 1.5, 0.0),  # white bright day
    "bright_evening": (-1.0, 2.0, 0.0),  # day with more clouds or red sunset / day to bright evening
    "light_sunset": (0.0, 3.5, 0.0),  # light sunset, day to sunset
    "warm_sunset": (1.5, 3.5, 0.0),  # warmer sunset
    "blue_hour": (2.0, 1.0, 0.0),  # blue hour
    "deep_night": (2.5, 0.0, 0.0),  # deep night
    "blue_morning": (2.5, -1.5, 0.0),  # blue morning
}
# official keyframe times: the 8 styles at 0, 0.125, ..., 0.875, and back to blue_day at 1 (a closed loop)
DAY_CYCLE: tuple[tuple[float, str], ...] = (
    *((index / len(STYLE_TARGETS), name) for index, name in enumerate(STYLE_TARGETS)),
    (1.0, "blue_day"),
)
STYLE_PATHS: dict[str, tuple[tuple[float, str], ...]] = {"day_cycle": DAY_CYCLE}
# STYLE_NAMES (imported above) is (*STYLE_TARGETS, *STYLE_PATHS); tests/test_styles.py checks it.

Keyframe = tuple[float, str | Sequence[float]]


def default_style_strength(resolution: int) -> float:
    """How far network A moves toward the target: 0.7 for models up to 256 px, 0.3 above (official configs)."""
    if resolution < 1:
        raise ValueError(f"resolution must be a positive pixel count, got {resolution}.")
    return STRENGTH_LOW_RES if resolution <= LOW_RES_MAX else STRENGTH_HIGH_RES


def _unknown_style(name: object) -> ValueError:
    return ValueError(f"unknown style {name!r}; valid styles: {', '.join(STYLE_NAMES)} (or a z_dyn triple).")


def style_target(name: str) -> torch.Tensor:
    """The z_dyn target (3,) of a named style."""
    if name not in STYLE_TARGETS:
        raise _unknown_style(name)
    return torch.tensor(STYLE_TARGETS[name], dtype=torch.float32)


def _condition(value: str | Sequence[float], strength: float) -> np.ndarray:
    """[z_target (3), t] for a style name, a z_dyn triple (strength appended) or a full 4-vector."""
    if isinstance(value, str):
        if value not in STYLE_TARGETS:
            raise _unknown_style(value)
        return np.array([*STYLE_TARGETS[value], strength], dtype=np.float64)
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.size == DYNAMIC_STYLE_SIZE:
        return np.append(array, strength)
    if array.size == DYNAMIC_STYLE_SIZE + 1:
        return array
    raise ValueError(f"a style keyframe value must be a style name, 3 numbers (z_dyn) or 4 (z_dyn, t); got {value}.")


def interpolate_keyframes(
    times: Sequence[float] | np.ndarray,
    values: torch.Tensor | np.ndarray,
    query_times: Sequence[float] | np.ndarray,
    bc_type: str = "clamped",
) -> torch.Tensor | np.ndarray:
    """Spline values (K, ...) given at ``times`` (K,) and evaluate at ``query_times`` (Q,) -> (Q, ...).

    Cubic with ``bc_type='clamped'`` (zero velocity at both ends; official SplineStyleAnimation) for K >= 2, constant
    for K = 1; ``'periodic'`` closes a loop whose first and last values match. It is generic so the pipeline can
    spline network A's outputs (w per level), which is what the official style animation does. Returns the type,
    dtype and device of ``values``; the spline itself runs in float64.
    """
    import scipy.interpolate  # imported on use: scipy.interpolate adds ~1 s to a cold `import deeplandscape_hf`

    times = np.asarray(times, dtype=np.float64).reshape(-1)
    query = np.asarray(query_times, dtype=np.float64).reshape(-1)
    is_tensor = isinstance(values, torch.Tensor)
    array = values.detach().cpu().double().numpy() if is_tensor else np.asarray(values, dtype=np.float64)
    if array.shape[0] != times.size or times.size == 0:
        raise ValueError(f"values must have one row per time: {times.size} times, values shape {array.shape}.")
    if np.any(np.diff(times) <= 0):
        raise ValueError(f"keyframe times must be strictly increasing, got {times.tolist()}.")
    if bc_type not in ("clamped", "periodic"):
        raise ValueError(f"bc_type must be 'clamped' or 'periodic', got {bc_type!r}.")
    flat = array.reshape(times.size, -1)
    if times.size == 1:
        result = np.repeat(flat, query.size, axis=0)
    else:
        spline = scipy.interpolate.make_interp_spline(times, flat, k=SPLINE_DEGREE, bc_type=bc_type)
        result = spline(query)
    result = result.reshape(query.size, *array.shape[1:])
    if is_tensor:
        return torch.from_numpy(result).to(device=values.device, dtype=values.dtype)
    return result


@dataclass(frozen=True, eq=False)
class StylePath:
    """Keyframes of the style condition: ``times`` (K,) strictly increasing, ``conditions`` (K, 4) = [z_dyn, t]."""

    times: np.ndarray
    conditions: np.ndarray
    name: str = "custom"

    def __post_init__(self) -> None:
        times = np.asarray(self.times, dtype=np.float64).reshape(-1)
        conditions = np.asarray(self.conditions, dtype=np.float64).reshape(times.size, -1)
        if conditions.shape[1] != DYNAMIC_STYLE_SIZE + 1:
            raise ValueError(f"conditions must be (K, 4) rows of [z_dyn (3), t], got {conditions.shape}.")
        if times.size == 0 or np.any(np.diff(times) <= 0):
            raise ValueError(f"keyframe times must be non-empty and strictly increasing, got {times.tolist()}.")
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "conditions", conditions)

    @classmethod
    def from_keyframes(
        cls,
        keyframes: Sequence[Keyframe],
        strength: float | None = None,
        resolution: int = LOW_RES_MAX,
        name: str = "custom",
    ) -> StylePath:
        """From (time, style) pairs; a style is a name, a z_dyn triple, or a 4-vector that carries its own t.

        ``strength`` (default: `default_style_strength(resolution)`) fills t for names and triples.
        """
        strength = default_style_strength(resolution) if strength is None else float(strength)
        if not keyframes:
            raise ValueError("a style path needs at least one (time, style) keyframe.")
        times = [float(time) for time, _ in keyframes]
        conditions = np.stack([_condition(value, strength) for _, value in keyframes])
        return cls(np.array(times), conditions, name)

    @property
    def is_closed(self) -> bool:
        """True when the path ends where it starts, so it can loop seamlessly."""
        return bool(np.allclose(self.conditions[0], self.conditions[-1]))

    def frame_times(self, num_frames: int, loop: bool = False) -> np.ndarray:
        """Keyframe-time of each frame: linspace over the keyframe span (official), or N steps of a loop of N."""
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}.")
        start, end = self.times[0], self.times[-1]
        if loop:
            return start + (end - start) * np.arange(num_frames) / num_frames
        return np.linspace(start, end, num_frames)

    def __call__(self, query_times: Sequence[float] | np.ndarray, periodic: bool = False) -> torch.Tensor:
        """Conditions (Q, 4) float32 at ``query_times`` (spline through the keyframe conditions)."""
        bc_type = "periodic" if periodic and self.times.size > 2 else "clamped"
        return torch.from_numpy(interpolate_keyframes(self.times, self.conditions, query_times, bc_type)).float()

    def keyframe_conditions(self) -> torch.Tensor:
        """(K, 4) float32: feed these through network A, then `interpolate_keyframes` its outputs (official)."""
        return torch.from_numpy(self.conditions).float()

    def frame_conditions(self, num_frames: int, loop: bool = False) -> torch.Tensor:
        """(T, 4) float32 [z_dyn target, t] per frame. ``loop=True`` needs a closed path and uses a periodic spline,
        so the frame after the last one is frame 0 with no pause at the seam."""
        if loop and not self.is_closed:
            raise ValueError(
                f"loop=True needs a closed style path (last keyframe equal to the first): use a single style, "
                f"'day_cycle', or end your keyframes with the first one; {self.name!r} is open."
            )
        return self(self.frame_times(num_frames, loop), periodic=loop)


def style_path(
    style: str | StylePath | Sequence[Keyframe],
    strength: float | None = None,
    resolution: int = LOW_RES_MAX,
) -> StylePath:
    """A `StylePath` from a style name (constant), a path name (``day_cycle``), keyframes, or a `StylePath`."""
    if isinstance(style, StylePath):
        return style
    if isinstance(style, str):
        if style in STYLE_PATHS:
            return StylePath.from_keyframes(STYLE_PATHS[style], strength, resolution, name=style)
        if style in STYLE_TARGETS:
            return StylePath.from_keyframes([(0.0, style)], strength, resolution, name=style)
        raise _unknown_style(style)
    return StylePath.from_keyframes(style, strength, resolution)


def style_conditions(
    style: str | StylePath | Sequence[Keyframe],
    num_frames: int,
    strength: float | None = None,
    resolution: int = LOW_RES_MAX,
    loop: bool = False,
) -> torch.Tensor:
    """Per-frame network-A conditions (T, 4) = [z_dyn target (3), strength t] for a style or path."""
    return style_path(style, strength, resolution).frame_conditions(num_frames, loop)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from ``a`` (t = 0) to ``b`` (t = 1) over the last dim; norms interpolate along too.

    a, b: (..., D). t: a number, or a 1-D tensor (T,) giving (T, ..., D). The angle comes from the normalised
    vectors while the unnormalised ones are combined (official `model.slerp`); nearly parallel vectors fall back to
    linear interpolation instead of dividing by ~0.
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    if t.dim() == 1:
        t = t.view(-1, *([1] * a.dim()))
    elif t.dim() != 0:
        raise ValueError(f"t must be a number or a 1-D tensor of times, got shape {tuple(t.shape)}.")
    unit_a = a / a.norm(dim=-1, keepdim=True)
    unit_b = b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((unit_a * unit_b).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0))
    sin_omega = torch.sin(omega)
    parallel = sin_omega.abs() < SLERP_EPS
    safe_sin = torch.where(parallel, torch.ones_like(sin_omega), sin_omega)
    weight_a = torch.where(parallel, 1.0 - t, torch.sin((1.0 - t) * omega) / safe_sin)
    weight_b = torch.where(parallel, t, torch.sin(t * omega) / safe_sin)
    return weight_a * a + weight_b * b


def random_dynamic_style_path(
    num_frames: int,
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """z_dyn per frame for a synthetic video: slerp between two N(0, 1)^3 draws, t = linspace(0, 1, T).

    Official INTERPOLATE mode (`change_styles`). Returns (T, 3), or (B, T, 3) when ``batch_size`` is given; the start
    points of all samples are drawn before the end points, as in the official code.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}.")
    count = 1 if batch_size is None else batch_size
    start = torch.randn(count, DYNAMIC_STYLE_SIZE, generator=generator, dtype=dtype).to(device)
    end = torch.randn(count, DYNAMIC_STYLE_SIZE, generator=generator, dtype=dtype).to(device)
    times = torch.linspace(0.0, 1.0, num_frames, dtype=dtype, device=device) * STYLE_CHANGE_COEF
    path = slerp(start, end, times).transpose(0, 1)  # (B, T, 3)
    return path[0] if batch_size is None else path


def style_vocabulary() -> dict[str, object]:
    """JSON-plain description of the styles and paths (for pipeline.json and the app's dropdown)."""
    return {
        "styles": {name: list(target) for name, target in STYLE_TARGETS.items()},
        "paths": {name: [[time, style] for time, style in keys] for name, keys in STYLE_PATHS.items()},
        "strength": {f"<={LOW_RES_MAX}px": STRENGTH_LOW_RES, f">{LOW_RES_MAX}px": STRENGTH_HIGH_RES},
    }
