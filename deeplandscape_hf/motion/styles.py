"""Time-of-day styles: the named z_dyn targets, keyframe paths over a video, splines and slerp.

Paper section 3.4 / supplement "style vocabulary": network A moves w toward a target z_dyn by a strength t; a video's
lighting follows a path of (time, target) keyframes. Mirrors the official `configs/inference/*/style_eoif[s].yaml`
(keyframes), `encode_and_animate.SplineStyleAnimation` (clamped cubic spline) and `model.slerp` / `change_styles`
(INTERPOLATE mode of synthetic videos).

A frame's style condition is the 4-vector network A consumes after w: [z_dyn target (3), strength t].

What a name means is a property of a model: where its latent space keeps the light. ``STYLE_TARGETS`` is the authors'
vocabulary, found on their 256/512 px weights; a model's ``pipeline.json`` may hold its own (``StyleVocabulary``),
found by ``style_calibration.calibrate_styles`` from the model's samples against the change of colour each name
promises (``style_calibration.COLOUR_CHANGES``).
A name the model cannot reach is kept but marked unreachable, and refused with a clear error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..vocabulary import STYLE_NAMES, offered_styles  # one list of names for the library and the fast CLI --help

DYNAMIC_STYLE_SIZE = 3  # official n_frames_params.dyn_style_coordinates: z_dyn = last 3 coordinates of z
STYLE_CHANGE_COEF = 1.0  # official constants.STYLE_CHANGE_COEF (scales the slerp time of synthetic videos)
STRENGTH_LOW_RES = 0.7  # official configs/inference/256/style_*.yaml: 4th keyframe value
STRENGTH_HIGH_RES = 0.3  # official configs/inference/512/style_*.yaml
LOW_RES_MAX = 256  # resolutions up to this use STRENGTH_LOW_RES
SLERP_EPS = 1e-7  # below this sin(angle) slerp falls back to linear interpolation
SPLINE_DEGREE = 3  # official SplineStyleAnimation kwargs: k=3, bc_type='clamped'
STYLE_MIN_RESOLUTION = 64  # official style configs animate W+ of levels 4-6 (64-256 px) of the 256 px model
STYLE_MIN_LEVELS = 3  # ... and at least the top 3 levels (as at 256 px) for smaller models

# official style_eoifs.yaml vocabulary; the names are ours, the comments are the config labels.
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


def style_level_indices(num_levels: int) -> list[int]:
    """W+ entries the time-of-day change acts on: both AdaINs of every level of >= 64 px, and at least the top
    ``STYLE_MIN_LEVELS`` levels (official: levels 4-6 of the 256 px model, 4-7 of the 512 px one; smaller models
    would otherwise have one or no such level)."""
    count = sum(1 for level in range(num_levels) if 4 * 2**level >= STYLE_MIN_RESOLUTION)
    count = min(num_levels, max(count, STYLE_MIN_LEVELS))
    return [index for level in range(num_levels - count, num_levels) for index in (2 * level, 2 * level + 1)]


class UnreachableStyleError(ValueError):
    """A style name this model's calibration could not reach: its samples never take that look."""


# ------------------------------------------------------------------------------------------------ vocabulary
@dataclass(frozen=True)
class StyleEntry:
    """What one style name means in one model.

    z_dyn: the target network A moves toward. strength: its t (None: the resolution default). reachable: False when
    calibration found no target giving the promised look; such a name is refused. measured / distance: what
    calibration saw the name do to its samples (``LOOK_KEYS``) and how far that is from the promise, kept so that
    anyone can see how close the name gets; None for vocabularies not found by calibration. photo_distance: how far
    from the promise the samples end when the search goes on on each alone, as on a photo (only where the one
    target is out of tolerance).
    """

    z_dyn: tuple[float, float, float]
    strength: float | None = None
    reachable: bool = True
    measured: dict[str, float] | None = None
    distance: float | None = None
    photo_distance: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"z_dyn": [round(float(v), 4) for v in self.z_dyn], "reachable": self.reachable}
        if self.strength is not None:
            out["strength"] = round(float(self.strength), 4)
        if self.measured is not None:
            out["measured"] = {key: round(float(value), 3) for key, value in self.measured.items()}
        if self.distance is not None:
            out["distance"] = round(float(self.distance), 2)
        if self.photo_distance is not None:
            out["photo_distance"] = round(float(self.photo_distance), 2)
        return out

    @classmethod
    def from_json(cls, name: str, values: Mapping[str, Any]) -> StyleEntry:
        try:
            z_dyn = tuple(float(v) for v in values["z_dyn"])
            if len(z_dyn) != DYNAMIC_STYLE_SIZE or not all(math.isfinite(v) for v in z_dyn):
                raise ValueError(f"z_dyn must be {DYNAMIC_STYLE_SIZE} finite numbers, got {values['z_dyn']!r}")
            strength, distance, measured = values.get("strength"), values.get("distance"), values.get("measured")
            photo_distance = values.get("photo_distance")
            return cls(
                z_dyn=z_dyn,  # type: ignore[arg-type]
                strength=None if strength is None else float(strength),
                reachable=bool(values.get("reachable", True)),
                measured=None if measured is None else {str(k): float(v) for k, v in measured.items()},
                distance=None if distance is None else float(distance),
                photo_distance=None if photo_distance is None else float(photo_distance),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"pipeline.json style {name!r} must be an object with 'z_dyn' (3 numbers) and optional 'strength', "
                f"'reachable': {error}"
            ) from error


@dataclass(frozen=True)
class StyleVocabulary:
    """The style names of one model: name -> ``StyleEntry``; paths visit the reachable ones in day-cycle order."""

    styles: dict[str, StyleEntry]
    source: str = "authors"  # "authors" (their targets, as found on their weights) or "calibrated"
    paths: dict[str, tuple[str, ...]] = field(default_factory=lambda: {"day_cycle": tuple(STYLE_TARGETS)})

    @classmethod
    def authors(cls) -> StyleVocabulary:
        """The authors' vocabulary: right for their converted weights (and the default when pipeline.json has none)."""
        return cls({name: StyleEntry(target) for name, target in STYLE_TARGETS.items()})

    @classmethod
    def from_json(cls, values: Mapping[str, Any] | None) -> StyleVocabulary:
        """From pipeline.json's ``styles`` object; None or empty: the authors' vocabulary."""
        if not values:
            return cls.authors()
        if not isinstance(values, Mapping) or not isinstance(values.get("names"), Mapping):
            raise ValueError("pipeline.json 'styles' must be an object with a 'names' object (name -> style).")
        styles = {str(name): StyleEntry.from_json(str(name), entry) for name, entry in values["names"].items()}
        return cls(styles, source=str(values.get("source", "calibrated")))

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "names": {name: entry.to_json() for name, entry in self.styles.items()}}

    @property
    def reachable(self) -> tuple[str, ...]:
        """Named styles the model can render, in vocabulary order."""
        return tuple(name for name, entry in self.styles.items() if entry.reachable)

    def path_keyframes(self, name: str) -> tuple[tuple[float, str], ...]:
        """A closed path over the path's reachable styles, evenly spaced (needs two of them)."""
        stops = [style for style in self.paths[name] if style in self.reachable]
        if len(stops) < 2:
            raise UnreachableStyleError(
                f"style path {name!r} needs at least two reachable styles in this model; it has {stops or 'none'}. "
                f"Choose one of: {', '.join(self.choices) or 'none (this model cannot change the time of day)'}."
            )
        return (*((index / len(stops), style) for index, style in enumerate(stops)), (1.0, stops[0]))

    @property
    def choices(self) -> tuple[str, ...]:
        """Everything a user may pass as ``style=``: the reachable names, then the paths that have two of them."""
        return offered_styles(self.to_json())

    def entry(self, name: str) -> StyleEntry:
        """The entry of a reachable name; a clear error for unknown and unreachable ones."""
        if name not in self.styles:
            raise _unknown_style(name, self)
        entry = self.styles[name]
        if not entry.reachable:
            measured = "" if entry.distance is None else f" (the closest look found is {entry.distance:.0f} off)"
            raise UnreachableStyleError(
                f"style {name!r} is not reachable with this model: calibration found no z_dyn target that gives its "
                f"look{measured}. Choose one of: {', '.join(self.choices) or 'none'}; or run "
                "`deeplandscape calibrate-styles MODEL` again after training the model further."
            )
        return entry


def _unknown_style(name: object, vocabulary: StyleVocabulary | None = None) -> ValueError:
    valid = ", ".join(vocabulary.choices) if vocabulary is not None else ", ".join(STYLE_NAMES)
    return ValueError(f"unknown style {name!r}; valid styles: {valid} (or a z_dyn triple).")


def style_target(name: str, vocabulary: StyleVocabulary | None = None) -> torch.Tensor:
    """The z_dyn target (3,) of a named style (in ``vocabulary``; default: the authors')."""
    entry = (vocabulary or StyleVocabulary.authors()).entry(name)
    return torch.tensor(entry.z_dyn, dtype=torch.float32)


def _condition(
    value: str | Sequence[float], strength: float | None, default_strength: float, vocabulary: StyleVocabulary
) -> np.ndarray:
    """[z_target (3), t] for a style name, a z_dyn triple (t appended) or a full 4-vector.

    t: ``strength`` when given; else a name's calibrated strength; else ``default_strength``.
    """
    if isinstance(value, str):
        entry = vocabulary.entry(value)
        t = strength if strength is not None else entry.strength if entry.strength is not None else default_strength
        return np.array([*entry.z_dyn, t], dtype=np.float64)
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.size == DYNAMIC_STYLE_SIZE:
        return np.append(array, default_strength if strength is None else strength)
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
    """Keyframes of the style condition: ``times`` (K,) strictly increasing, ``conditions`` (K, 4) = [z_dyn, t].

    ``names``: the style name each keyframe came from (None for a z_dyn given as numbers); empty when unknown.
    """

    times: np.ndarray
    conditions: np.ndarray
    name: str = "custom"
    names: tuple[str | None, ...] = ()

    def __post_init__(self) -> None:
        times = np.asarray(self.times, dtype=np.float64).reshape(-1)
        conditions = np.asarray(self.conditions, dtype=np.float64).reshape(times.size, -1)
        if conditions.shape[1] != DYNAMIC_STYLE_SIZE + 1:
            raise ValueError(f"conditions must be (K, 4) rows of [z_dyn (3), t], got {conditions.shape}.")
        if times.size == 0 or np.any(np.diff(times) <= 0):
            raise ValueError(f"keyframe times must be non-empty and strictly increasing, got {times.tolist()}.")
        if self.names and len(self.names) != times.size:
            raise ValueError(f"names must have one entry per keyframe: {len(self.names)} names, {times.size} times.")
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "conditions", conditions)

    @classmethod
    def from_keyframes(
        cls,
        keyframes: Sequence[Keyframe],
        strength: float | None = None,
        resolution: int = LOW_RES_MAX,
        name: str = "custom",
        vocabulary: StyleVocabulary | None = None,
    ) -> StylePath:
        """From (time, style) pairs; a style is a name, a z_dyn triple, or a 4-vector that carries its own t.

        ``strength`` fills t for names and triples; without it a name takes its calibrated strength from
        ``vocabulary`` (default: the authors'), and anything else `default_style_strength(resolution)`.
        """
        default = default_style_strength(resolution)
        strength = None if strength is None else float(strength)
        vocabulary = vocabulary or StyleVocabulary.authors()
        if not keyframes:
            raise ValueError("a style path needs at least one (time, style) keyframe.")
        times = [float(time) for time, _ in keyframes]
        conditions = np.stack([_condition(value, strength, default, vocabulary) for _, value in keyframes])
        names = tuple(value if isinstance(value, str) else None for _, value in keyframes)
        return cls(np.array(times), conditions, name, names)

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
    vocabulary: StyleVocabulary | None = None,
) -> StylePath:
    """A `StylePath` from a style name (constant), a path name (``day_cycle``), keyframes, or a `StylePath`.

    Names mean what ``vocabulary`` (the model's; default: the authors') says; unknown and unreachable names raise
    a ``ValueError`` that lists the valid ones.
    """
    vocabulary = vocabulary or StyleVocabulary.authors()
    if isinstance(style, StylePath):
        return style
    if isinstance(style, str):
        if style in vocabulary.paths:
            keyframes = vocabulary.path_keyframes(style)
            return StylePath.from_keyframes(keyframes, strength, resolution, name=style, vocabulary=vocabulary)
        if style in vocabulary.styles:
            return StylePath.from_keyframes([(0.0, style)], strength, resolution, name=style, vocabulary=vocabulary)
        raise _unknown_style(style, vocabulary)
    return StylePath.from_keyframes(style, strength, resolution, vocabulary=vocabulary)


def style_conditions(
    style: str | StylePath | Sequence[Keyframe],
    num_frames: int,
    strength: float | None = None,
    resolution: int = LOW_RES_MAX,
    loop: bool = False,
    vocabulary: StyleVocabulary | None = None,
) -> torch.Tensor:
    """Per-frame network-A conditions (T, 4) = [z_dyn target (3), strength t] for a style or path."""
    return style_path(style, strength, resolution, vocabulary).frame_conditions(num_frames, loop)


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


def style_stills(pipe: Any, inverted: Any, styles: Sequence[str | None]) -> list[Any]:
    """A photo in each of ``styles`` (None: its own light): the last frame of each style's video, full strength.

    One inversion serves them all (``pipe``: a DeepLandscapePipeline, ``inverted``: its InvertedPhoto). A single
    style reaches its target at the last frame of a video, so two frames are enough to render it. PIL images.
    """
    return [pipe.animate(inverted, style=style, num_frames=2, frame_indices=[1]).frames[0] for style in styles]
