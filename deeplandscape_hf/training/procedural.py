"""Procedural landscape videos: weight-free training data and test fixtures.

A scene is a still landscape (layered fractal ridgelines with atmospheric haze, optional lake and shore) under a sky
whose clouds drift over time; a lake mirrors everything above the horizon through moving ripples. Land never moves:
only sky and water do, the static/dynamic split DeepLandscape learns (paper Sec. 3). The light may also walk along the
day cycle during a clip (``day_span``), as in real time-lapses of a sunset or a night falling: sky, clouds, water and
land are relit together frame by frame. Both kinds of change are what a generator must put in its dynamic latent: a
video's frames share the scene and differ in clouds and light. With a fixed light (``day_span=0``) land pixels are
bit-identical in every frame. No official counterpart: the authors trained on real time-lapse videos only.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..vocabulary import TIME_OF_DAY_NAMES  # the style vocabulary, in `day_cycle` order; a float time walks it

logger = logging.getLogger(__name__)


# One row per TIME_OF_DAY_NAMES entry. Colours are RGB in [0, 1]. As in real skies, the sunset turns the whole sky
# warm (a dusky rose overhead, CIELAB b* about -3 against -53 for the blue day's zenith) and the blue hour is a deeper
# and more saturated blue than the day (b* about -55 overhead), only darker.
# fmt: off
_PALETTE: dict[str, np.ndarray] = {
    "zenith":      np.array([[0.16, 0.36, 0.72], [0.36, 0.56, 0.86], [0.27, 0.42, 0.72], [0.30, 0.36, 0.62],
                             [0.44, 0.28, 0.35], [0.04, 0.11, 0.48], [0.012, 0.018, 0.05], [0.28, 0.42, 0.70]]),
    "horizon":     np.array([[0.66, 0.79, 0.92], [0.84, 0.89, 0.94], [0.96, 0.86, 0.68], [1.00, 0.70, 0.46],
                             [0.98, 0.46, 0.20], [0.24, 0.30, 0.68], [0.05, 0.06, 0.13], [0.86, 0.78, 0.80]]),
    "sun":         np.array([[1.00, 0.98, 0.92], [1.00, 1.00, 0.96], [1.00, 0.90, 0.70], [1.00, 0.78, 0.50],
                             [1.00, 0.58, 0.26], [0.90, 0.50, 0.40], [0.80, 0.82, 0.90], [1.00, 0.86, 0.72]]),
    "cloud_lit":   np.array([[0.97, 0.97, 0.98], [1.00, 1.00, 1.00], [1.00, 0.92, 0.80], [1.00, 0.78, 0.62],
                             [1.00, 0.55, 0.36], [0.42, 0.40, 0.56], [0.11, 0.12, 0.17], [0.98, 0.86, 0.86]]),
    "cloud_shade": np.array([[0.60, 0.65, 0.74], [0.72, 0.75, 0.80], [0.58, 0.54, 0.58], [0.50, 0.42, 0.50],
                             [0.34, 0.22, 0.30], [0.16, 0.17, 0.28], [0.035, 0.04, 0.07], [0.55, 0.55, 0.64]]),
    "light":       np.array([[1.00, 1.00, 0.97], [1.10, 1.10, 1.06], [0.95, 0.84, 0.68], [0.78, 0.58, 0.42],
                             [0.56, 0.34, 0.24], [0.20, 0.22, 0.34], [0.05, 0.06, 0.10], [0.78, 0.74, 0.74]]),
}
# sun height in sky heights above the horizon (<0: below it), glow strength, star visibility
_SUN_ELEVATION = np.array([1.40, 1.20, 0.42, 0.20, 0.03, -0.20, -1.00, 0.55])
_SUN_GLOW = np.array([0.15, 0.20, 0.45, 0.65, 0.90, 0.35, 0.00, 0.35])
_STARS = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.15, 1.0, 0.0])
_RANDOM_TIME_WEIGHTS = np.array([0.20, 0.14, 0.14, 0.12, 0.12, 0.08, 0.06, 0.14])
# fmt: on

# Ground materials: (far rock, near vegetation). Picked per scene for variety.
_MATERIALS: tuple[tuple[tuple[float, float, float], tuple[float, float, float]], ...] = (
    ((0.40, 0.42, 0.45), (0.20, 0.36, 0.12)),  # green hills under grey mountains
    ((0.44, 0.40, 0.38), (0.14, 0.26, 0.12)),  # conifer forest
    ((0.46, 0.40, 0.36), (0.46, 0.34, 0.14)),  # autumn
    ((0.60, 0.46, 0.34), (0.52, 0.42, 0.26)),  # arid / desert
    ((0.36, 0.38, 0.44), (0.30, 0.40, 0.20)),  # alpine meadow
)
_SNOW = np.array([0.93, 0.94, 0.97], dtype=np.float32)
_MOON = np.array([0.85, 0.86, 0.80], dtype=np.float32)
_SUN_RADIUS = 0.028  # in image heights
_WATER_DEEP = np.array([0.05, 0.13, 0.17], dtype=np.float32)

_TEXTURE_SIZE = 256  # texels per side of the periodic noise textures
_RIDGE_SAMPLES = 2048  # samples of the 1D ridgeline noise over _RIDGE_SPAN
_RIDGE_SPAN = 4.0  # normalised width covered by ridgelines (aspect ratios up to 4:1)
_CLOUD_TEXELS_PER_UNIT = 40.0  # texels per unit of the cloud plane
_BASE_CLOUD_SPEED = 0.035  # cloud-plane units per frame at cloud_speed=1 (about 1% of the height per frame mid-sky)
_RIPPLE_SPEED = 0.6  # ripple texels per frame
_FRAME_CHUNK = 16  # frames rendered together; bounds peak memory


@dataclass
class ProceduralLandscape:
    """One rendered scene.

    frames: uint8 (T, H, W, 3). sky_mask / water_mask: bool (H, W), True where any sky / water shows (anti-aliased
    edge pixels count as sky or water because they change over time); every other pixel is land and identical in all
    frames unless the light changes. time_of_day: position of the first frame on the day cycle in [0, 1) (0 =
    blue_day, each name 1/8 further); day_span: how far along the cycle the light walks from the first frame to the
    last (0: fixed light).
    """

    frames: np.ndarray
    sky_mask: np.ndarray
    water_mask: np.ndarray
    time_of_day: float
    with_water: bool
    seed: int
    day_span: float = 0.0

    @property
    def movable_mask(self) -> np.ndarray:
        """Sky or water: the pixels that move (clouds, ripples). Under a changing light every pixel changes colour."""
        return self.sky_mask | self.water_mask

    @property
    def frame_times(self) -> np.ndarray:
        """float (T,): each frame's position on the day cycle, in [0, 1)."""
        return _frame_cycle_positions(self.time_of_day, self.day_span, len(self.frames))

    @property
    def time_of_day_name(self) -> str:
        """The nearest named style of the day cycle."""
        return TIME_OF_DAY_NAMES[int(round(self.time_of_day * len(TIME_OF_DAY_NAMES))) % len(TIME_OF_DAY_NAMES)]


# ----------------------------------------------------------------------------------------------------------- noise
def _fractal_texture(rng: np.random.Generator, beta: float, low_cut: float = 1.0, stretch_x: float = 1.0) -> np.ndarray:
    """Periodic 2D fractal noise (power spectrum 1/f^beta) with zero mean and unit std.

    Spectral synthesis gives a tileable texture in one FFT, so clouds can drift forever without seams.
    stretch_x > 1 elongates features horizontally (stratus clouds, wave streaks).
    """
    n = _TEXTURE_SIZE
    fy = np.fft.fftfreq(n)[:, None] * n
    fx = np.fft.rfftfreq(n)[None, :] * n
    f = np.sqrt((fx * stretch_x) ** 2 + fy**2)
    amplitude = np.where(f >= low_cut, np.maximum(f, 1e-6) ** (-beta / 2), 0.0)
    spectrum = np.fft.rfft2(rng.standard_normal((n, n))) * amplitude
    tex = np.fft.irfft2(spectrum, s=(n, n))
    tex = (tex - tex.mean()) / (tex.std() + 1e-12)
    return tex.astype(np.float32)


def _fractal_line(rng: np.random.Generator, beta: float, low_cut: float = 2.0) -> np.ndarray:
    """1D fractal noise (1/f^beta spectrum) of _RIDGE_SAMPLES values, unit std: a ridgeline profile."""
    n = _RIDGE_SAMPLES
    f = np.fft.rfftfreq(n) * n
    amplitude = np.where(f >= low_cut, np.maximum(f, 1e-6) ** (-beta / 2), 0.0)
    line = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * amplitude, n=n)
    return ((line - line.mean()) / (line.std() + 1e-12)).astype(np.float32)


def _sample_periodic(tex: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a periodic square texture at texel coordinates (u = column, v = row), broadcastable.

    Wraps the coordinates, pads the texture by one texel circularly and lets ``grid_sample`` interpolate (several
    times faster than numpy fancy indexing).
    """
    n = tex.shape[0]
    u, v = np.broadcast_arrays(np.asarray(u, np.float32), np.asarray(v, np.float32))
    padded = np.pad(tex, ((0, 1), (0, 1)), mode="wrap")
    grid = np.stack([np.mod(u, n) * (2 / n) - 1, np.mod(v, n) * (2 / n) - 1], axis=-1).reshape(1, -1, 1, 2)
    out = F.grid_sample(
        torch.from_numpy(padded)[None, None],
        torch.from_numpy(grid),
        mode="bilinear",
        padding_mode="border",
        align_corners=True,
    )
    return out.numpy().reshape(u.shape)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


# ------------------------------------------------------------------------------------------------- time of day
def _resolve_time_of_day(time_of_day: str | float | None, rng: np.random.Generator) -> float:
    if time_of_day is None:  # near a random named anchor, days and sunsets more often than nights
        anchor = int(rng.choice(len(TIME_OF_DAY_NAMES), p=_RANDOM_TIME_WEIGHTS))
        return float((anchor + rng.uniform(-0.4, 0.4)) / len(TIME_OF_DAY_NAMES)) % 1.0
    if isinstance(time_of_day, str):
        if time_of_day not in TIME_OF_DAY_NAMES:
            names = ", ".join(TIME_OF_DAY_NAMES)
            raise ValueError(f"time_of_day must be one of {names} or a float, got {time_of_day!r}.")
        return TIME_OF_DAY_NAMES.index(time_of_day) / len(TIME_OF_DAY_NAMES)
    value = float(time_of_day)
    if not math.isfinite(value):
        raise ValueError(f"time_of_day must be finite, got {time_of_day!r}.")
    return value % 1.0


def _resolve_day_span(day_span: float | None, rng: np.random.Generator) -> float:
    if day_span is None:  # a random stretch of the cycle, from a slow afternoon to a whole sunset into the night
        return float(rng.uniform(0.05, 0.4))
    value = float(day_span)
    if not math.isfinite(value):
        raise ValueError(f"day_span must be finite, got {day_span!r}.")
    return value


def _frame_cycle_positions(start: float, span: float, num_frames: int) -> np.ndarray:
    steps = np.arange(num_frames, dtype=np.float64) / max(num_frames - 1, 1)
    return (start + span * steps) % 1.0


def _palette_at(cycle_position: float) -> dict[str, np.ndarray | float]:
    """Linear blend of the two named anchors around a position of the day cycle."""
    k = len(TIME_OF_DAY_NAMES)
    p = cycle_position * k
    i = int(math.floor(p)) % k
    j = (i + 1) % k
    f = p - math.floor(p)
    out: dict[str, np.ndarray | float] = {
        name: ((1 - f) * table[i] + f * table[j]).astype(np.float32) for name, table in _PALETTE.items()
    }
    out["sun_elevation"] = float((1 - f) * _SUN_ELEVATION[i] + f * _SUN_ELEVATION[j])
    out["sun_glow"] = float((1 - f) * _SUN_GLOW[i] + f * _SUN_GLOW[j])
    out["stars"] = float((1 - f) * _STARS[i] + f * _STARS[j])
    return out


# ----------------------------------------------------------------------------------------------------- rendering
def _normalize_size(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int | np.integer):
        height = width = int(size)
    else:
        if len(size) != 2:
            raise ValueError(f"size must be an int or (height, width), got {size!r}.")
        height, width = int(size[0]), int(size[1])
    if height < 8 or width < 8:
        raise ValueError(f"size must be at least 8 px per side, got {(height, width)}.")
    return height, width


def _scene_seed(seed: int, generator: torch.Generator | None) -> int:
    if generator is not None:
        return int(torch.randint(0, 2**62, (1,), generator=generator).item())
    return int(seed)


def _layer_coverage(ridge_px: np.ndarray, rows: int) -> np.ndarray:
    """Fraction of each pixel (rows, W) below a ridgeline given in pixel rows: anti-aliased silhouettes."""
    y = np.arange(rows, dtype=np.float32)[:, None]
    return np.clip(y + 1.0 - ridge_px[None, :], 0.0, 1.0)


@dataclass
class _Scene:
    """Per-scene constants shared by the painting steps; lengths in units of the image height."""

    height: int
    width: int
    horizon_px: int  # first row below the horizon line
    top_rows: int  # rows painted by sky and land (all rows without water; rows above the horizon with water)
    water: bool
    x_n: np.ndarray  # (W,) column centres, 0 in the middle
    y_px: np.ndarray  # (top_rows, 1) row centres in pixels
    elevation: np.ndarray  # (top_rows, 1) 0 at the horizon, 1 at the top row
    sun_x: float


@dataclass
class _NightSky:
    """Stars and moon of one scene, drawn once so that they stay put while the light changes."""

    stars: np.ndarray | None  # (top_rows, W) brightness of each star at full darkness; None: never dark enough
    moon_xy: tuple[float, float] | None  # centre (x_n, pixel row); None: no moon


def _draw_night_sky(scene: _Scene, rng: np.random.Generator, max_stars: float) -> _NightSky:
    stars = moon_xy = None
    if max_stars > 0:
        star_field = rng.uniform(size=(scene.top_rows, scene.width)) > 0.994
        stars = (rng.uniform(0.3, 1.0, size=star_field.shape) * star_field).astype(np.float32)
    if max_stars > 0.5 and rng.uniform() < 0.5:
        moon_xy = (rng.uniform(-0.4, 0.4) * scene.width / scene.height, scene.horizon_px * rng.uniform(0.2, 0.6))
    return _NightSky(stars, moon_xy)


def _paint_sky_background(scene: _Scene, pal: dict, night: _NightSky) -> np.ndarray:
    """Sky without clouds (top_rows, W, 3): zenith-to-horizon gradient, sun disc and glow, stars and moon at night."""
    x_n, y_px = scene.x_n, scene.y_px
    zenith, horizon_col = pal["zenith"], pal["horizon"]
    sky = horizon_col + (zenith - horizon_col) * (scene.elevation[..., None] ** 0.55)
    sky = np.broadcast_to(sky, (scene.top_rows, scene.width, 3)).astype(np.float32).copy()
    sun_y_px = scene.horizon_px * (1.0 - pal["sun_elevation"])
    dx = x_n[None, :] - scene.sun_x
    sun_dist = np.sqrt(dx**2 + ((y_px - sun_y_px) / scene.height) ** 2)
    glow = pal["sun_glow"] * (0.6 * np.exp(-sun_dist / 0.08) + 0.4 * np.exp(-sun_dist / 0.35))
    horizon_band = pal["sun_glow"] * np.exp(-np.abs(dx) / 0.7) * (1 - scene.elevation) ** 3 * 0.5
    sky += (pal["sun"] - sky * 0.5) * np.clip(glow + horizon_band, 0, 1)[..., None]
    sun_disc = _smoothstep(_SUN_RADIUS, _SUN_RADIUS * 0.8, sun_dist) * (pal["sun_elevation"] > -0.05)
    sky = sky * (1 - sun_disc[..., None]) + np.minimum(pal["sun"] * 1.15, 1.0) * sun_disc[..., None]
    if night.stars is not None and pal["stars"] > 0:
        sky += (night.stars * pal["stars"] * scene.elevation**0.5)[..., None] * np.float32(0.8)
    moon_visibility = float(np.clip((pal["stars"] - 0.4) / 0.1, 0.0, 1.0))  # rises as the stars come out
    if night.moon_xy is not None and moon_visibility > 0:
        moon_x, moon_y = night.moon_xy
        moon_dist = np.sqrt((x_n[None, :] - moon_x) ** 2 + ((y_px - moon_y) / scene.height) ** 2)
        moon = _smoothstep(0.03, 0.024, moon_dist)[..., None] * moon_visibility
        sky = sky + 0.08 * moon_visibility * np.exp(-moon_dist / 0.1)[..., None]
        sky = sky * (1 - moon) + _MOON * moon
    return sky.astype(np.float32)


@dataclass
class _Land:
    """Land layers composited far -> near, split by what lights them, so one painting serves every light.

    Under light L (RGB) and haze colour C a land pixel is ``albedo * L + haze * C``: each layer's colour is linear in
    both and "over" compositing is linear, so the split is exact. transmittance: how much sky shows through (exactly 0
    wherever a layer fully covers a pixel: those pixels never see the sky).
    """

    albedo: np.ndarray  # (top_rows, W, 3), premultiplied by coverage
    haze: np.ndarray  # (top_rows, W, 1), premultiplied by coverage
    transmittance: np.ndarray  # (top_rows, W)

    def lit(self, light: np.ndarray, haze_colour: np.ndarray) -> np.ndarray:
        """Premultiplied land colour under broadcastable light and haze colours (..., 1, 1, 3)."""
        return self.albedo * light + self.haze * haze_colour


def _paint_land(
    scene: _Scene, rng: np.random.Generator, land_tex: np.ndarray, near_veg: np.ndarray, far_rock: np.ndarray
) -> _Land:
    """Static land layers far -> near, unlit (see ``_Land``).

    Each layer is a 1D fractal ridgeline filled downwards (to the bottom, or to the water line), coloured rock far
    and vegetation near, lit by an embossed relief texture and the ridge slope towards the sun, snow-capped when high,
    then hazed towards the horizon colour with distance (aerial perspective). Transmittance is the product of
    (1 - coverage).
    """
    x_n, y_px, height = scene.x_n, scene.y_px, scene.height
    relief_tex = _fractal_texture(rng, beta=3.0, low_cut=2.0)
    ridge_x = np.linspace(-_RIDGE_SPAN / 2, _RIDGE_SPAN / 2, _RIDGE_SAMPLES, dtype=np.float32)
    sun_side = 1.0 if scene.sun_x > 0 else -1.0
    albedo_premul = np.zeros((scene.top_rows, scene.width, 3), np.float32)
    haze_premul = np.zeros((scene.top_rows, scene.width, 1), np.float32)
    transmittance = np.ones((scene.top_rows, scene.width), np.float32)
    mountain_scale = rng.uniform(0.6, 1.2)
    num_layers = int(rng.integers(2, 5))
    for k in range(num_layers):
        depth = k / max(num_layers - 1, 1)  # 0 = farthest, 1 = nearest
        rugged = 1.0 - depth
        # 1. silhouette
        profile = _fractal_line(rng, beta=2.5 + 0.8 * depth, low_cut=2.0)
        line = np.interp(x_n, ridge_x, profile).astype(np.float32)
        peaks = np.logaddexp(0.0, 1.6 * line) / 1.6  # soft max(line, 0): broad valleys, distinct peaks
        amp = (0.04 + 0.16 * rugged**1.5) * mountain_scale
        if scene.water:
            base = rng.uniform(-0.01, 0.03) + 0.01 * rugged
            height_n = np.maximum(base + amp * (peaks - 0.3), 0.0)
            height_n *= height_n > 0.006  # gaps of open water
        else:
            base = (0.06 * rugged - 0.14 * depth) * mountain_scale + rng.uniform(-0.02, 0.03)
            height_n = base + amp * (peaks - 0.3)
            if k == 0:
                height_n = np.maximum(height_n, 0.01)  # the far layer closes the sky above the horizon
        if depth > 0.5:  # tree-line roughness on near hills
            trees = np.abs(np.interp(x_n * 9.0, ridge_x, _fractal_line(rng, beta=0.8, low_cut=40.0)))
            height_n = np.where(height_n > 0, height_n + 0.01 * trees.astype(np.float32), height_n)
        ridge_px = scene.horizon_px - height_n * height
        cover = _layer_coverage(ridge_px, scene.top_rows)
        if scene.water:
            cover[scene.horizon_px :] = 0.0
        below = np.maximum(y_px - ridge_px[None, :], 0.0) / height  # depth under the ridge

        # 2. colour and light
        base_col = (far_rock * (1 - depth) + near_veg * depth) * rng.uniform(0.85, 1.15, size=3).astype(np.float32)
        tex_scale = 60.0 + 60.0 * depth  # texels per height: nearer layers show finer detail
        tu = x_n[None, :] * tex_scale + 37.0 * k
        tv = y_px * (tex_scale / height) * (1.0 + 1.5 * rugged)
        grain = _sample_periodic(land_tex, tu, tv)
        bump = _sample_periodic(relief_tex, tu * 0.5, tv * 0.5)
        relief = (_sample_periodic(relief_tex, tu * 0.5 + 2.0 * sun_side, tv * 0.5 - 1.0) - bump) * 2.0
        slope = np.convolve(np.gradient(height_n) * height, np.ones(5) / 5, mode="same").astype(np.float32)  # dh/dx
        facing = np.tanh(slope * sun_side * 1.5)[None, :] * np.exp(-below / (0.04 + 0.1 * rugged))
        shade = 1.0 + 0.2 * facing + (0.25 * rugged + 0.1) * relief + 0.07 * grain
        shade = shade * (1.0 - 0.3 * np.clip(below * 4, 0, 1) * depth)  # hills darken towards their foot
        color = base_col[None, None, :] * shade[..., None]
        if rugged > 0.5 and amp > 0.1:
            snowline = np.quantile(height_n, 0.75)
            snow_depth = np.maximum(height_n - snowline, 0.0) * 0.6
            snow = (below < snow_depth[None, :] * (1.0 + 0.5 * bump)) & (height_n[None, :] > snowline)
            color = np.where(snow[..., None], _SNOW * np.clip(shade, 0.6, 1.1)[..., None], color)
        haze = 0.55 * (1 - depth) ** 1.5 + 0.04

        # 3. "over" compositing
        keep, add = (1 - cover)[..., None], cover[..., None]
        albedo_premul = albedo_premul * keep + color * ((1 - haze) * add)
        haze_premul = haze_premul * keep + haze * add
        transmittance = transmittance * (1 - cover)
    return _Land(albedo_premul, haze_premul, transmittance)


class _Clouds:
    """Two fractal cloud fields on a plane above the camera, drifting at slightly different velocities.

    Perspective: a sky row at elevation e looks at plane distance 1/e, so clouds shrink and slow down towards the
    horizon, where they fade into haze instead of aliasing. The field is thresholded to a random coverage and shaded
    from the palette's lit to shade colour by thickness.
    """

    def __init__(self, scene: _Scene, rng: np.random.Generator, rows: int, cloud_speed: float):
        stretch = 1.0 if rng.uniform() < 0.6 else rng.uniform(2.5, 5.0)  # cumulus, or stratus streaks
        self.tex_a = _fractal_texture(rng, beta=3.2, low_cut=1.5, stretch_x=stretch)
        self.tex_b = _fractal_texture(rng, beta=2.6, low_cut=3.0, stretch_x=stretch)
        self.coverage = rng.uniform(0.10, 0.75)
        self.mix_std = math.sqrt(0.7**2 + 0.45**2)
        self.threshold = self.mix_std * NormalDist().inv_cdf(1 - self.coverage)
        angle = rng.uniform(-0.5, 0.5) + (math.pi if rng.uniform() < 0.5 else 0.0)
        # python floats: numpy float64 scalars would promote the float32 fields to float64 (NEP 50)
        self.velocity = [
            _BASE_CLOUD_SPEED * cloud_speed * math.cos(angle),
            _BASE_CLOUD_SPEED * cloud_speed * 0.6 * math.sin(angle),
        ]
        self.morph = 0.06 * _BASE_CLOUD_SPEED * abs(cloud_speed)  # the finer field also slides along depth
        self.offset_a = [float(o) for o in rng.uniform(0, _TEXTURE_SIZE, size=2)]
        self.offset_b = [float(o) for o in rng.uniform(0, _TEXTURE_SIZE, size=2)]
        elev = np.maximum((scene.horizon_px - scene.y_px[:rows]) / scene.height, 0.0) + 0.03  # (R, 1)
        plane_depth = 1.0 / elev
        self.plane_u = scene.x_n[None, :] * plane_depth
        self.plane_v = np.broadcast_to(plane_depth, (rows, scene.width))
        self.far_fade = np.exp(-plane_depth / 12.0)
        self.horizon_haze = ((1 - scene.elevation[:rows]) ** 4 * 0.6)[..., None]

    def render(self, sky_bg: np.ndarray, t: np.ndarray, pal: dict) -> np.ndarray:
        """Sky with clouds at frame indices t (Tc, 1, 1) over backgrounds (Tc, R, W, 3): float (Tc, R, W, 3).

        pal: the frames' palettes, colours (Tc, 1, 1, 3).
        """
        k = _CLOUD_TEXELS_PER_UNIT
        vel = self.velocity
        ua = (self.plane_u + vel[0] * t) * k + self.offset_a[0]
        va = (self.plane_v + vel[1] * t) * k + self.offset_a[1]
        ub = (self.plane_u + 1.3 * vel[0] * t) * (1.7 * k) + self.offset_b[0]
        vb = (self.plane_v + 1.3 * vel[1] * t + self.morph * t) * (1.7 * k) + self.offset_b[1]
        field = 0.7 * _sample_periodic(self.tex_a, ua, va) + 0.45 * _sample_periodic(self.tex_b, ub, vb)
        density = _smoothstep(self.threshold, self.threshold + 0.9 * self.mix_std, field) * self.far_fade
        density = (density + (1 - self.far_fade) * self.coverage * 0.35)[..., None]
        thickness = (np.clip((field - self.threshold) / (2.5 * self.mix_std), 0.0, 1.0) ** 0.8)[..., None]
        lit, shade = pal["cloud_lit"], pal["cloud_shade"]
        cloud_col = lit + (shade - lit) * thickness
        cloud_col = cloud_col * (1 - self.horizon_haze) + pal["horizon"] * self.horizon_haze
        return sky_bg * (1 - density) + cloud_col * density


class _Lake:
    """Water below the horizon: the scene above mirrored through drifting wave streaks, Fresnel-weighted.

    Reflectance is high at grazing angles (near the horizon) and falls towards the viewer, where the water's own
    colour shows. Ripple displacement grows towards the viewer. An optional near shore (static land) rises from one
    bottom corner.
    """

    def __init__(self, scene: _Scene, rng: np.random.Generator, land_tex: np.ndarray, near_veg: np.ndarray):
        height, width, x_n = scene.height, scene.width, scene.x_n
        self.rows = height - scene.horizon_px
        self.width = width
        self.top_rows = scene.top_rows
        yw = np.arange(self.rows, dtype=np.float32)[:, None] + 0.5  # rows below the horizon
        water_dist = 1.0 / (yw / height + 0.02)
        self.ripple_tex = _fractal_texture(rng, beta=2.4, low_cut=3.0, stretch_x=4.0)
        self.ripple_u = np.broadcast_to(x_n[None, :] * water_dist * 12.0, (self.rows, width))
        self.ripple_v = np.broadcast_to(water_dist * 12.0, (self.rows, width))
        self.ripple_amp = (0.6 + 5.0 * (yw / height)) * height / 128.0  # in pixels
        self.ripple_dir = float(rng.choice([-1.0, 1.0]))
        frac = yw / max(self.rows, 1)
        self.reflectance = (np.float32(0.45) + 0.45 * (1 - frac) ** 2)[..., None]  # (R, 1, 1)
        self.water_col = (_WATER_DEEP * rng.uniform(0.8, 1.3, size=3)).astype(np.float32)  # unlit, as shore_col
        self.mirror_row = (scene.horizon_px - 1) - (yw - 0.5)  # the row above the horizon seen in each water row
        self.shore_cover = np.zeros((self.rows, width), np.float32)
        self.shore_col = np.zeros((self.rows, width, 3), np.float32)
        if rng.uniform() < 0.5:
            side = rng.choice([-1.0, 1.0])
            ramp = np.clip(side * x_n / (width / height / 2) * 1.4 - rng.uniform(0.0, 0.6), 0.0, 1.0)
            ridge_x = np.linspace(-_RIDGE_SPAN / 2, _RIDGE_SPAN / 2, _RIDGE_SAMPLES, dtype=np.float32)
            wobble = 1 + 0.25 * np.interp(x_n * 3, ridge_x, _fractal_line(rng, 2.2))
            shore_h = np.maximum(ramp * rng.uniform(0.06, 0.22) * wobble, 0.0) * (self.rows / height) * 3.0
            self.shore_cover = _layer_coverage(self.rows - shore_h.astype(np.float32) * height, self.rows)
            grain = _sample_periodic(land_tex, x_n[None, :] * 140, yw * 140 / height + 11)
            shore_base = near_veg * 0.7 * rng.uniform(0.8, 1.2, size=3).astype(np.float32)
            self.shore_col = shore_base * (1 + 0.2 * grain[..., None])

    @property
    def mask(self) -> np.ndarray:
        """bool (R, W): water (not fully covered by the shore)."""
        return self.shore_cover < 1

    def render(self, top: np.ndarray, t: np.ndarray, light: np.ndarray) -> np.ndarray:
        """Water rows for frames t (Tc, 1, 1) given the composited rows above the horizon top (Tc, top_rows, W, 3).

        light: the frames' light colours (Tc, 1, 1, 3); the reflection is already lit (it is the scene above).
        """
        phase = _RIPPLE_SPEED * t
        n1 = _sample_periodic(self.ripple_tex, self.ripple_u + self.ripple_dir * phase * 0.3, self.ripple_v + phase)
        n2 = _sample_periodic(
            self.ripple_tex, self.ripple_u * 0.7 + 61.0 - phase * 0.2, self.ripple_v * 0.7 + 29.0 + phase * 0.8
        )
        src_row = self.mirror_row + self.ripple_amp * n1  # (Tc, R, W), in rows above the horizon
        src_col = np.arange(self.width, dtype=np.float32) + 0.35 * self.ripple_amp * n2
        grid = np.stack([src_col * (2 / max(self.width - 1, 1)) - 1, src_row * (2 / max(self.top_rows - 1, 1)) - 1], -1)
        reflected = F.grid_sample(
            torch.from_numpy(top).permute(0, 3, 1, 2),
            torch.from_numpy(grid.astype(np.float32)),
            mode="bilinear",
            padding_mode="border",
            align_corners=True,
        )
        reflected = reflected.permute(0, 2, 3, 1).numpy()  # (Tc, R, W, 3)
        glint = np.clip(n1 - 1.2, 0.0, 1.0)[..., None] * 0.15 * light
        lake = reflected * 0.9 * self.reflectance + self.water_col * light * (1 - self.reflectance) + glint
        cover = self.shore_cover[..., None]
        return lake * (1 - cover) + self.shore_col * light * cover


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def _stack_palettes(palettes: Sequence[dict]) -> dict[str, np.ndarray]:
    """Per-frame palettes as arrays: colours (Tc, 1, 1, 3), broadcasting over rows and columns."""
    return {name: np.stack([p[name] for p in palettes])[:, None, None, :] for name in _PALETTE}


def render_landscape(
    num_frames: int,
    size: int | Sequence[int],
    seed: int = 0,
    *,
    time_of_day: str | float | None = None,
    day_span: float | None = 0.0,
    cloud_speed: float = 1.0,
    with_water: bool | None = None,
    generator: torch.Generator | None = None,
) -> ProceduralLandscape:
    """Render one procedural landscape video with its sky and water masks.

    Args:
        num_frames: T, at least 1.
        size: H = W, or (H, W). Scenes are laid out in units of the height, so one seed looks alike at every size.
        seed: scene seed; the same seed (and arguments) always gives the same video.
        time_of_day: light of the first frame: None (random, days and sunsets more often than nights), a name from
            TIME_OF_DAY_NAMES, or a float position on the day cycle (0 = blue_day, 0.5 = warm_sunset, 0.75 =
            deep_night).
        day_span: how far along the day cycle the light walks from the first frame to the last, as a time-lapse
            does (0.25: from blue_day to warm_sunset when starting at 0; 0: fixed light, land pixels identical in
            every frame; None: a random stretch between 0.05 and 0.4).
        cloud_speed: multiplier of the cloud drift (1: about 1% of the height per frame mid-sky); 0 freezes the
            clouds (ripples on water still move).
        with_water: lake below the horizon; None picks at random (40%).
        generator: when given, the scene seed is drawn from it instead of ``seed``.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}.")
    if not math.isfinite(cloud_speed):
        raise ValueError(f"cloud_speed must be finite, got {cloud_speed}.")
    height, width = _normalize_size(size)
    scene_seed = _scene_seed(seed, generator)
    # Independent streams per part: the light only recolours a scene, and only the star field depends on size.
    rng_time, rng, rng_sky, rng_land, rng_clouds, rng_water = np.random.default_rng(scene_seed).spawn(6)
    cycle = _resolve_time_of_day(time_of_day, rng_time)
    span = _resolve_day_span(day_span, rng_time)
    positions = [float(position) for position in _frame_cycle_positions(cycle, span, num_frames)]
    palettes = {position: _palette_at(position) for position in positions}
    water_draw = rng.uniform()
    water = bool(water_draw < 0.4) if with_water is None else bool(with_water)

    # 1. Layout.
    horizon_frac = rng.uniform(0.50, 0.66) if water else rng.uniform(0.55, 0.74)
    horizon_px = max(2, min(height - 2, int(round(horizon_frac * height))))
    top_rows = horizon_px if water else height
    y_px = np.arange(top_rows, dtype=np.float32)[:, None] + 0.5
    scene = _Scene(
        height=height,
        width=width,
        horizon_px=horizon_px,
        top_rows=top_rows,
        water=water,
        x_n=((np.arange(width, dtype=np.float32) + 0.5) - width / 2) / height,
        y_px=y_px,
        elevation=np.clip((horizon_px - y_px) / horizon_px, 0.0, 1.0),
        sun_x=float(rng.uniform(-0.48, 0.48)) * width / height,
    )

    # 2. Static layers: the night sky's stars and moon, and the land (unlit).
    night = _draw_night_sky(scene, rng_sky, max(p["stars"] for p in palettes.values()))
    far_rock, near_veg = (np.array(c, np.float32) for c in _MATERIALS[int(rng_land.integers(len(_MATERIALS)))])
    land_tex = _fractal_texture(rng_land, beta=2.0, low_cut=2.0)
    land = _paint_land(scene, rng_land, land_tex, near_veg, far_rock)
    sky_mask = np.zeros((height, width), bool)
    sky_mask[:top_rows] = land.transmittance > 0
    # rows needing clouds: every sky row; with water all rows above the horizon (the lake mirrors them)
    sky_rows = top_rows if water else int(np.flatnonzero(sky_mask.any(axis=1)).max(initial=-1)) + 1

    # 3. Moving layers.
    clouds = _Clouds(scene, rng_clouds, sky_rows, cloud_speed)
    lake = _Lake(scene, rng_water, land_tex, near_veg) if water else None
    water_mask = np.zeros((height, width), bool)
    if lake is not None:
        water_mask[horizon_px:] = lake.mask

    # 4. Frames, in chunks, each under its own light. Land pixels have transmittance exactly 0, so under a fixed
    # light they are the same sum of the same numbers in every frame. The sky background is painted once per light.
    backgrounds = {position: _paint_sky_background(scene, pal, night)[:sky_rows] for position, pal in palettes.items()}
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for start in range(0, num_frames, _FRAME_CHUNK):
        stop = min(start + _FRAME_CHUNK, num_frames)
        t = np.arange(start, stop, dtype=np.float32)[:, None, None]  # (Tc, 1, 1)
        chunk = positions[start:stop]
        pal = _stack_palettes([palettes[position] for position in chunk])
        sky_bg = np.stack([backgrounds[position] for position in chunk])
        top = land.lit(pal["light"], pal["horizon"] * 0.9 + pal["zenith"] * 0.1)  # (Tc, top_rows, W, 3)
        top[:, :sky_rows] += land.transmittance[:sky_rows, :, None] * clouds.render(sky_bg, t, pal)
        frames[start:stop, :top_rows] = _to_uint8(top)
        if lake is not None:
            frames[start:stop, horizon_px:] = _to_uint8(lake.render(top, t, pal["light"]))
    return ProceduralLandscape(frames, sky_mask, water_mask, cycle, water, scene_seed, span)


def render_landscape_video(
    num_frames: int,
    size: int | Sequence[int],
    seed: int = 0,
    *,
    time_of_day: str | float | None = None,
    day_span: float | None = 0.0,
    cloud_speed: float = 1.0,
    with_water: bool | None = None,
    generator: torch.Generator | None = None,
    return_mask: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Frames of one procedural landscape video: uint8 (T, H, W, 3).

    With ``return_mask=True`` also returns the movable mask, bool (H, W), True on sky or water. See
    ``render_landscape`` for the arguments and for the separate sky and water masks.
    """
    scene = render_landscape(
        num_frames,
        size,
        seed,
        time_of_day=time_of_day,
        day_span=day_span,
        cloud_speed=cloud_speed,
        with_water=with_water,
        generator=generator,
    )
    return (scene.frames, scene.movable_mask) if return_mask else scene.frames


# ------------------------------------------------------------------------------------------------------ writing
def write_mp4(path: str | Path, frames: np.ndarray, fps: float = 30.0, quality: float = 8.0) -> Path:
    """Write uint8 (T, H, W, 3) frames as H.264 mp4 (yuv420p, plays in browsers).

    Sizes must be even: yuv420p halves chroma, and imageio-ffmpeg silently writes an empty file for odd sizes when
    block alignment is off, so odd sizes are refused here and the output is checked.
    """
    import imageio_ffmpeg

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}.")
    num, height, width = frames.shape[:3]
    if num < 1:
        raise ValueError("frames must hold at least one frame.")
    if height % 2 or width % 2:
        raise ValueError(f"mp4 (H.264 yuv420p) needs even height and width, got {height}x{width}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    writer = imageio_ffmpeg.write_frames(
        str(tmp), (width, height), fps=fps, quality=quality, codec="libx264", macro_block_size=2,
        ffmpeg_log_level="error",
    )  # fmt: skip
    try:
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()
    if not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg wrote no data for {path}.")
    os.replace(tmp, path)
    return path


def write_procedural_dataset(
    out_dir: str | Path,
    num_videos: int,
    num_frames: int,
    size: int | Sequence[int],
    seed: int = 0,
    format: Literal["mp4", "frames"] = "mp4",
    *,
    fps: float = 30.0,
    time_of_day: str | float | None = None,
    day_span: float | None = None,
    cloud_speed: float = 1.0,
    with_water: bool | None = None,
) -> list[Path]:
    """Write ``num_videos`` procedural videos into ``out_dir`` and return their paths.

    ``format='mp4'`` writes ``procedural_00000.mp4``...; ``'frames'`` writes folders ``procedural_00000/`` of
    ``frame_00000.png``... (lossless, what ``data.find_videos`` reads as a frame-folder video). Video i uses the scene
    seed ``seed * 1_000_003 + i``, so datasets grow without changing earlier videos. By default each video's light
    walks a random stretch of the day cycle (``day_span=None``), as in real time-lapses: a generator trained on them
    learns that light, like clouds, changes within a video. ``metadata.json`` records each video's seed, time of day
    (first frame), day span and water flag.
    """
    if format not in ("mp4", "frames"):
        raise ValueError(f"format must be 'mp4' or 'frames', got {format!r}.")
    if num_videos < 1 or num_frames < 1:
        raise ValueError(f"num_videos and num_frames must be >= 1, got {num_videos} and {num_frames}.")
    height, width = _normalize_size(size)
    if format == "mp4" and (height % 2 or width % 2):
        raise ValueError(f"mp4 needs even height and width, got {height}x{width}; use format='frames' or an even size.")
    from PIL import Image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    records = []
    for i in range(num_videos):
        scene = render_landscape(
            num_frames,
            (height, width),
            seed * 1_000_003 + i,
            time_of_day=time_of_day,
            day_span=day_span,
            cloud_speed=cloud_speed,
            with_water=with_water,
        )
        name = f"procedural_{i:05d}"
        if format == "mp4":
            path = write_mp4(out / f"{name}.mp4", scene.frames, fps=fps)
        else:
            path = out / name
            path.mkdir(exist_ok=True)
            for t, frame in enumerate(scene.frames):
                target = path / f"frame_{t:05d}.png"
                tmp = path / f".frame_{t:05d}.tmp-{os.getpid()}.png"
                Image.fromarray(frame).save(tmp, format="PNG")
                os.replace(tmp, target)
        paths.append(path)
        records.append(
            {
                "path": path.name,
                "seed": scene.seed,
                "time_of_day": round(scene.time_of_day, 6),
                "time_of_day_name": scene.time_of_day_name,
                "day_span": round(scene.day_span, 6),
                "with_water": scene.with_water,
                "num_frames": num_frames,
                "size": [height, width],
            }
        )
    meta_tmp = out / f".metadata.json.tmp-{os.getpid()}"
    meta_tmp.write_text(json.dumps({"videos": records}, indent=1))
    os.replace(meta_tmp, out / "metadata.json")
    logger.info("wrote %d procedural videos to %s", num_videos, out)
    return paths
