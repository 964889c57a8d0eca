"""Homography motion of the dynamic noise S^dyn: presets, 4-point DLT, powers H^n, warps, and the video recipe.

Paper section 3.3 / supplement: clouds move because S^dyn is warped by a homography per frame; below the horizon the
motion is mirrored, which makes water reflect the sky. Mirrors the official `inference/perspective.py`
(`make_homography_kornia`, `warp_homography_kornia`), `homographies/*/*.csv` and `encode_and_animate.noise_cycle_shift`.

Coordinates are normalised to [-1, 1] (x right, y down; pixel centres of the first/last row at -1/+1, the kornia
meshgrid); the horizon at fraction h from the top is y_h = 2h - 1. A warp samples output(p) = input(H p), so content
appears to move by **minus** the CSV shifts (the official semantics).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .noise import standardize_like

HOMOGRAPHY_DIR = Path(__file__).resolve().parent / "assets" / "homographies"
SHIFT_ROWS = ("left_top", "right_top", "left_horizon", "right_horizon")  # official CSV row order
OFFICIAL_SPEEDS = (0.5, 1.0, 2.5, 4.0)  # official dirs manual_homographies{_slow2, , _x2.5, _x4} (x4 has m12 at x2)
HORIZON_EPS = 1e-4  # official perspective.py: degenerate sky/earth thresholds
WORKING_RESOLUTION = 256  # official configs shift_kwargs.shift_in_hr (512 for the 512 px model)
OFFICIAL_MIN_SHIFT, OFFICIAL_MAX_SHIFT, OFFICIAL_STEPS = 1, 100, 100  # official configs shift_kwargs
STYLE_MIN_SHIFT, STYLE_MAX_SHIFT = -200, 200  # official configs style_eoif[s].yaml shift_kwargs
DIRECTION_HORIZON_SHIFT = 2e-3  # |dx| at the horizon of man4/man5, per frame, in normalised units
DIRECTION_TOP_SCALE = 2.0  # official make_manual_shifts(yscale=2): the top edge moves twice as fast as the horizon
POINT_EPS = 1e-8  # kornia convert_points_from_homogeneous: |w| <= eps leaves the point unscaled

Homographies = tuple[torch.Tensor, torch.Tensor]


# ----------------------------------------------------------------------------------------------------------- presets
@dataclass(frozen=True, eq=False)
class MotionPreset:
    """A named motion: ``shifts`` (4, 2) float64, rows left-top, right-top, left-horizon, right-horizon, columns
    (dx, dy) per frame in normalised coordinates. ``speed`` records the multiplier already applied to ``shifts``."""

    name: str
    shifts: np.ndarray
    speed: float = 1.0

    def __post_init__(self) -> None:
        shifts = np.array(self.shifts, dtype=np.float64)
        if shifts.shape != (4, 2) or not np.isfinite(shifts).all():
            raise ValueError(
                f"shifts must be 4 rows x 2 finite numbers (dx, dy) for {', '.join(SHIFT_ROWS)}; got shape "
                f"{shifts.shape}."
            )
        shifts.setflags(write=False)
        object.__setattr__(self, "shifts", shifts)

    def scaled(self, speed: float) -> MotionPreset:
        """The same motion ``speed`` times faster (the paper's variants are x0.5, x1, x2.5, x4)."""
        speed = _check_speed(speed)
        return MotionPreset(self.name, self.shifts * speed, self.speed * speed)

    def homographies(self, horizon: float, water: MotionPreset | None = None) -> Homographies:
        """(sky_H, earth_H) for this motion at ``horizon``; see `build_homographies`."""
        return build_homographies(self.shifts, horizon, None if water is None else water.shifts)

    def to_csv(self, path: str | Path) -> None:
        """Write the official format (4 whitespace-separated rows of dx dy), loadable by the authors' code."""
        np.savetxt(path, self.shifts)


@dataclass(frozen=True)
class Motion:
    """Sky motion plus an optional separate water motion.

    ``water`` describes the water's motion the way a sky preset would; like the official earth matrix it is
    mirrored about the horizon, so ``Motion(p, water=p)`` equals ``Motion(p)`` (water reflects the sky).
    """

    sky: MotionPreset
    water: MotionPreset | None = None

    def homographies(self, horizon: float) -> Homographies:
        """(sky_H, earth_H) at ``horizon``."""
        return self.sky.homographies(horizon, water=self.water)

    @classmethod
    def from_names(
        cls, sky: str | Path, water: str | Path | None = None, speed: float = 1.0, water_speed: float | None = None
    ) -> Motion:
        """Build from preset names or CSV paths; ``water_speed`` defaults to ``speed``."""
        water_preset = None if water is None else get_motion(water, speed if water_speed is None else water_speed)
        return cls(get_motion(sky, speed), water_preset)


MotionLike = Motion | MotionPreset | str | Path | Sequence[torch.Tensor]


def _check_speed(speed: float) -> float:
    speed = float(speed)
    if not math.isfinite(speed) or speed <= 0:
        raise ValueError(f"speed must be a positive number (the paper uses 0.5, 1, 2.5 or 4), got {speed}.")
    return speed


def load_motion_csv(path: str | Path, name: str | None = None) -> MotionPreset:
    """Read a motion CSV in the official format: 4 rows x 2 numbers (dx dy), whitespace- or comma-separated.

    Rows are left-top, right-top, left-horizon, right-horizon shifts per frame in normalised coordinates; ``#``
    starts a comment. Anything else raises ``ValueError`` saying what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"motion CSV not found: {path}")
    expected = f"4 rows of 2 numbers (dx dy) for {', '.join(SHIFT_ROWS)}"
    text = path.read_text().replace(",", " ").replace(";", " ")
    lines = [line.split("#", 1)[0].split() for line in text.splitlines()]
    rows = [line for line in lines if line]
    if len(rows) != 4 or any(len(row) != 2 for row in rows):
        raise ValueError(f"{path}: expected {expected}; got {len(rows)} rows with {[len(r) for r in rows]} numbers.")
    try:
        shifts = np.array([[float(value) for value in row] for row in rows], dtype=np.float64)
    except ValueError as error:
        raise ValueError(f"{path}: expected {expected}; {error}.") from None
    if not np.isfinite(shifts).all():
        raise ValueError(f"{path}: expected {expected}; found a non-finite value.")
    return MotionPreset(name or path.stem, shifts)


def _load_presets() -> dict[str, MotionPreset]:
    # sorted() puts m01..m12 before man1..man5 ('1' < 'a')
    return {path.stem: load_motion_csv(path) for path in sorted(HOMOGRAPHY_DIR.glob("*.csv"))}


MOTION_PRESETS: dict[str, MotionPreset] = _load_presets()  # m01..m12 (paper), man1..man5 (authors' selected)
MOTION_PRESET_NAMES: tuple[str, ...] = tuple(MOTION_PRESETS)


def get_motion(name_or_path: str | Path | MotionPreset, speed: float = 1.0) -> MotionPreset:
    """A preset (``m01``..``m12``, ``man1``..``man5``) or a CSV path, with its shifts multiplied by ``speed``."""
    if isinstance(name_or_path, MotionPreset):
        preset = name_or_path
    elif str(name_or_path).lower() in MOTION_PRESETS:
        preset = MOTION_PRESETS[str(name_or_path).lower()]
    elif Path(name_or_path).suffix.lower() in (".csv", ".txt") or Path(name_or_path).is_file():
        preset = load_motion_csv(name_or_path)
    else:
        raise ValueError(
            f"unknown motion {str(name_or_path)!r}; valid presets: {', '.join(MOTION_PRESET_NAMES)} "
            f"(or a path to a CSV of 4 rows x 2 numbers)."
        )
    return preset.scaled(speed)


def motion_from_direction(degrees: float, speed: float = 1.0) -> MotionPreset:
    """A motion whose clouds drift towards ``degrees`` on screen: 0 = right, 90 = up, 180 = left, 270 = down.

    Shaped like the authors' selected presets (official `make_manual_shifts`): left and right move alike and the top
    edge moves DIRECTION_TOP_SCALE = 2x faster than the horizon, which reads as perspective (clouds overhead are
    closer). At speed 1 the horizon moves DIRECTION_HORIZON_SHIFT = 2e-3 normalised units (0.1 % of the width) per
    frame, like man4/man5. The CSV shifts are sampling offsets, hence the minus sign.
    """
    speed = _check_speed(speed)
    radians = math.radians(float(degrees))
    apparent = np.array([math.cos(radians), -math.sin(radians)])  # screen y points down
    horizon_shift = -DIRECTION_HORIZON_SHIFT * speed * apparent
    top_shift = DIRECTION_TOP_SCALE * horizon_shift
    shifts = np.stack([top_shift, top_shift, horizon_shift, horizon_shift])
    return MotionPreset(f"direction_{float(degrees):g}deg", shifts, speed)


# ------------------------------------------------------------------------------------------------------ homographies
def homography_from_points(src: np.ndarray | torch.Tensor, dst: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The 3x3 H (H[2, 2] = 1, float64) with dst_i ~ H src_i for 4 point pairs, by the 4-point DLT.

    Each pair gives two rows of an 8x8 linear system in the 8 unknown entries (the same system as
    `kornia.get_perspective_transform`, solved here in float64 instead of float32).
    """
    src = torch.as_tensor(np.asarray(src, dtype=np.float64))
    dst = torch.as_tensor(np.asarray(dst, dtype=np.float64))
    if src.shape != (4, 2) or dst.shape != (4, 2):
        raise ValueError(f"src and dst must each be 4 points (4, 2), got {tuple(src.shape)} and {tuple(dst.shape)}.")
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src.tolist(), dst.tolist()):
        rows.append([x, y, 1.0, 0.0, 0.0, 0.0, -x * u, -y * u])
        rows.append([0.0, 0.0, 0.0, x, y, 1.0, -x * v, -y * v])
        rhs.extend([u, v])
    system = torch.tensor(rows, dtype=torch.float64)
    if torch.linalg.matrix_rank(system) < 8:
        raise ValueError("homography_from_points needs 4 points with no 3 on one line (the DLT system is singular).")
    solution = torch.linalg.solve(system, torch.tensor(rhs, dtype=torch.float64))
    return torch.cat([solution, solution.new_ones(1)]).view(3, 3)


def build_homographies(
    shifts: np.ndarray | Sequence[Sequence[float]], horizon: float, water_shifts: np.ndarray | None = None
) -> Homographies:
    """(sky_H, earth_H), float64 (3, 3), from per-frame shifts of the 4 control points (official construction).

    sky: corners (-1, -1), (1, -1), (-1, y_h), (1, y_h) map to themselves plus the lt, rt, lh, rh shifts.
    earth (mirrored about the horizon): (+-1, y_h) -> (+-1 + dx_h, y_h - dy_h) and (+-1, 1) -> (+-1 + dx_top,
    1 - dy_top), so a vertical drift in the sky becomes the opposite drift in the water. ``water_shifts`` (same
    layout) drives the earth matrix instead of ``shifts``. The sky is the identity when h ~ 0 and the earth when
    h ~ 1 (no region to move).
    """
    horizon = _check_horizon(horizon)
    sky_shifts = _as_shifts(shifts)
    earth_shifts = sky_shifts if water_shifts is None else _as_shifts(water_shifts)
    y_h = 2.0 * horizon - 1.0
    identity = torch.eye(3, dtype=torch.float64)

    sky_h = identity
    if y_h > -1.0 + HORIZON_EPS:
        sky_src = np.array([[-1.0, -1.0], [1.0, -1.0], [-1.0, y_h], [1.0, y_h]])
        sky_h = homography_from_points(sky_src, sky_src + sky_shifts)

    earth_h = identity
    if y_h <= 1.0 - HORIZON_EPS:
        (lt_dx, lt_dy), (rt_dx, rt_dy), (lh_dx, lh_dy), (rh_dx, rh_dy) = earth_shifts
        earth_src = np.array([[-1.0, y_h], [1.0, y_h], [-1.0, 1.0], [1.0, 1.0]])
        earth_dst = np.array(
            [
                [-1.0 + lh_dx, y_h - lh_dy],
                [1.0 + rh_dx, y_h - rh_dy],
                [-1.0 + lt_dx, 1.0 - lt_dy],
                [1.0 + rt_dx, 1.0 - rt_dy],
            ]
        )
        earth_h = homography_from_points(earth_src, earth_dst)
    return sky_h, earth_h


def official_exponent(n: float) -> int:
    """The integer power the official code applies for a (possibly fractional) step ``n``.

    Official: H is multiplied by itself ``int(|n| - 1)`` times, i.e. floor(|n|) for |n| >= 1 and 1 for 0 < |n| < 1,
    using the inverse when n < 0. Ours: n == 0 gives the identity (the official loop would give H, but no official
    config asks for n = 0: frame 0 is never warped).
    """
    if n == 0:
        return 0
    return int(math.copysign(max(1, math.floor(abs(n))), n))


def homography_power(homography: torch.Tensor, n: float, fractional: bool = False) -> torch.Tensor:
    """H^n (float64) for H (..., 3, 3); n < 0 uses the inverse.

    Default: non-integer n is rounded like the authors (`official_exponent`). ``fractional=True`` instead takes the
    real matrix power exp(n log H), a continuous motion that allows any frame rate or loop length.
    """
    homography = torch.as_tensor(homography, dtype=torch.float64)
    if homography.shape[-2:] != (3, 3):
        raise ValueError(f"homography must have shape (..., 3, 3), got {tuple(homography.shape)}.")
    if not fractional or float(n).is_integer():
        exponent = official_exponent(n) if not fractional else int(n)
        return torch.linalg.matrix_power(homography, exponent)
    import scipy.linalg  # only fractional powers need it; keeps `import deeplandscape_hf.motion` light

    flat = homography.reshape(-1, 3, 3).numpy()
    powers = []
    for matrix in flat:
        power = scipy.linalg.fractional_matrix_power(matrix / matrix[2, 2], float(n))
        if np.abs(np.imag(power)).max() > 1e-9:
            raise ValueError("fractional powers need a homography close to a pure motion (no real matrix log).")
        powers.append(np.real(power))
    return torch.from_numpy(np.stack(powers)).reshape(homography.shape)


# ------------------------------------------------------------------------------------------------------------- warps
def _transform_grid(
    homographies: torch.Tensor, height: int, width: int, rows: slice, device: torch.device | None = None
) -> torch.Tensor:
    """Sampling positions H p for the pixels of ``rows``: (N, len(rows), W, 2) float64, kornia's meshgrid."""
    ys = torch.linspace(-1.0, 1.0, height, dtype=torch.float64, device=device)[rows]
    xs = torch.linspace(-1.0, 1.0, width, dtype=torch.float64, device=device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1)  # (h, W, 3)
    mapped = torch.einsum("nij,hwj->nhwi", homographies.to(device=points.device, dtype=torch.float64), points)
    w = mapped[..., 2:]
    scale = torch.where(w.abs() > POINT_EPS, 1.0 / w, torch.ones_like(w))
    return mapped[..., :2] * scale


def _sky_rows(height: int, horizon: float) -> int:
    """Rows taken from the sky warp (official: int(H * h), all rows when h ~ 1, none when h ~ 0)."""
    if horizon > 1.0 - HORIZON_EPS:
        return height
    if horizon < HORIZON_EPS:
        return 0
    return int(height * horizon)


def _horizon_grid(
    sky_h: torch.Tensor,
    earth_h: torch.Tensor,
    height: int,
    width: int,
    horizon: float,
    device: torch.device | None = None,
) -> torch.Tensor:
    """(N, H, W, 2) grid: rows above the horizon sample through the sky matrix, the rest through the earth one."""
    split = _sky_rows(height, horizon)
    parts = []
    if split > 0:
        parts.append(_transform_grid(sky_h, height, width, slice(0, split), device))
    if split < height:
        parts.append(_transform_grid(earth_h, height, width, slice(split, height), device))
    return torch.cat(parts, dim=1)


def _batched_matrices(homography: torch.Tensor, batch: int, name: str) -> torch.Tensor:
    homography = torch.as_tensor(homography, dtype=torch.float64)
    if homography.shape == (3, 3):
        homography = homography[None]
    if homography.dim() != 3 or homography.shape[1:] != (3, 3) or homography.shape[0] not in (1, batch):
        raise ValueError(f"{name} must be (3, 3) or ({batch}, 3, 3), got {tuple(homography.shape)}.")
    return homography.expand(batch, 3, 3)


def _grid_sample(x: torch.Tensor, grid: torch.Tensor, mode: str, padding_mode: str) -> torch.Tensor:
    # align_corners=True: kornia 0.2.0's HomographyWarper samples its linspace(-1, 1) meshgrid this way, so the
    # identity homography reproduces the input exactly.
    return F.grid_sample(
        x, grid.to(device=x.device, dtype=x.dtype), mode=mode, padding_mode=padding_mode, align_corners=True
    )


def warp_with_homography(
    x: torch.Tensor, homography: torch.Tensor, mode: str = "bilinear", padding_mode: str = "reflection"
) -> torch.Tensor:
    """Warp x (N, C, H, W) by H (3, 3) or (N, 3, 3): output(p) = x(H p) in normalised coordinates.

    Bilinear with reflection padding, like the official kornia `HomographyWarper(padding_mode='reflection')`.
    """
    if x.dim() != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {tuple(x.shape)}.")
    matrices = _batched_matrices(homography, x.shape[0], "homography")
    grid = _transform_grid(matrices, x.shape[-2], x.shape[-1], slice(None), x.device)
    return _grid_sample(x, grid, mode, padding_mode)


def warp_with_horizon(
    x: torch.Tensor,
    homographies: Homographies,
    horizon: float,
    mode: str = "bilinear",
    padding_mode: str = "reflection",
) -> torch.Tensor:
    """Warp x (N, C, H, W) with the sky matrix above row int(H * horizon) and the earth matrix below it."""
    if x.dim() != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {tuple(x.shape)}.")
    horizon = _check_horizon(horizon)
    sky_h = _batched_matrices(homographies[0], x.shape[0], "sky homography")
    earth_h = _batched_matrices(homographies[1], x.shape[0], "earth homography")
    grid = _horizon_grid(sky_h, earth_h, x.shape[-2], x.shape[-1], horizon, x.device)
    return _grid_sample(x, grid, mode, padding_mode)


# ------------------------------------------------------------------------------------------------------- noise video
def homography_schedule(
    steps: int = OFFICIAL_STEPS, min_shift: float = OFFICIAL_MIN_SHIFT, max_shift: float = OFFICIAL_MAX_SHIFT
) -> np.ndarray:
    """Per-frame exponents n = linspace(min_shift, max_shift, steps), the official `shift_kwargs` schedule.

    Defaults are the animation configs (n = 1..100 after the unwarped frame 0); the style configs use -200..200.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}.")
    return np.linspace(min_shift, max_shift, steps)


def _check_horizon(horizon: float) -> float:
    horizon = float(horizon)
    if not 0.0 <= horizon <= 1.0:
        raise ValueError(f"horizon must be a fraction of the height in [0, 1] (0 = top), got {horizon}.")
    return horizon


def _as_shifts(shifts: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    array = np.asarray(shifts, dtype=np.float64)
    if array.size != 8:
        raise ValueError(f"shifts must be 4 rows x 2 numbers (dx, dy) for {', '.join(SHIFT_ROWS)}, got {array.shape}.")
    return array.reshape(4, 2)  # the official code also accepts its (2, 2, 2) layout


def resolve_homographies(motion: MotionLike, horizon: float) -> Homographies:
    """(sky_H, earth_H) from a `Motion`, a `MotionPreset`, a preset name / CSV path, or a ready matrix pair."""
    if isinstance(motion, (Motion, MotionPreset)):
        return motion.homographies(horizon)
    if isinstance(motion, (str, Path)):
        return get_motion(motion).homographies(horizon)
    if isinstance(motion, Sequence) and len(motion) == 2:
        pair = tuple(torch.as_tensor(np.asarray(m), dtype=torch.float64) for m in motion)
        if all(m.shape == (3, 3) for m in pair):
            return pair  # type: ignore[return-value]
    raise ValueError(
        "motion must be a Motion, a MotionPreset, a preset name "
        f"({', '.join(MOTION_PRESET_NAMES)}), a CSV path, or a (sky_H, earth_H) pair of 3x3 matrices."
    )


FrameRecipe = list[tuple[np.ndarray, np.ndarray]]


def frame_recipe(
    positions: np.ndarray | Sequence[float], num_frames: int, loop: bool = False, fractional: bool = False
) -> tuple[FrameRecipe, np.ndarray]:
    """How each frame is made from the first: ``([(exponents, weights), ...], untouched)``, one entry per component.

    A plain video has one component, H^n with n = the frame position (rounded like the authors unless
    ``fractional``). ``loop=True`` has two: the first frame advanced by f steps (weight 1 - f/N) and by f - N steps
    (weight f/N), so the frame after the last is the first again and no pixel travels more than one period.
    ``untouched`` marks frames that equal the first frame exactly. The noise warp and the photo's flow field both
    follow this recipe, so the generator and the photo move together.
    """
    positions = np.asarray(positions, dtype=np.float64).reshape(-1)
    if loop:
        phase = np.mod(positions, num_frames)
        components = [(phase, 1.0 - phase / num_frames), (phase - num_frames, phase / num_frames)]
        untouched = phase == 0
    else:
        components = [(positions, np.ones_like(positions))]
        untouched = np.array([(n if fractional else official_exponent(n)) == 0 for n in positions], dtype=bool)
    if not fractional:
        components = [(np.array([official_exponent(n) for n in exps], dtype=np.float64), w) for exps, w in components]
    return components, untouched


def homography_powers(homography: torch.Tensor, exponents: Sequence[float], fractional: bool = False) -> torch.Tensor:
    """(T, 3, 3) stack of H^n (float64), computing each distinct exponent once."""
    cache: dict[float, torch.Tensor] = {}
    for n in exponents:
        if n not in cache:
            cache[n] = homography_power(homography, n, fractional)
    return torch.stack([cache[n] for n in exponents])


def warp_by_recipe(
    images: torch.Tensor, homographies: Homographies, horizon: float, recipe: FrameRecipe, frames: slice
) -> torch.Tensor:
    """``images`` (1, C, H, W) moved for the frames ``frames`` of ``recipe`` (``frame_recipe``): (t, C, H, W).

    The image counterpart of the noise warp (no re-standardisation): looping frames blend their two components.
    """
    sky_h, earth_h = homographies
    out = None
    for exponents, weights in recipe:
        exps = list(exponents[frames])
        pair = (homography_powers(sky_h, exps), homography_powers(earth_h, exps))
        warped = warp_with_horizon(images.expand(len(exps), -1, -1, -1), pair, horizon)
        weight = torch.as_tensor(weights[frames], dtype=images.dtype, device=images.device).view(-1, 1, 1, 1)
        out = weight * warped if out is None else out + weight * warped
    assert out is not None
    return out


def warp_noise_video(
    dynamic_noise: Sequence[torch.Tensor],
    motion: MotionLike,
    num_frames: int,
    horizon: float,
    *,
    frame_indices: Sequence[float] | np.ndarray | None = None,
    loop: bool = False,
    working_resolution: int = WORKING_RESOLUTION,
    fractional: bool = False,
    chunk_size: int = 16,
) -> list[torch.Tensor]:
    """Per-frame dynamic noise for a video: list over levels of (B, T, 1, s, s).

    Frame f is the official inference recipe with n = frame_indices[f] (default 0..num_frames-1; frame 0 is the
    input untouched; pass `homography_schedule()` for the official 1..100): bicubic upsampling to
    ``working_resolution`` (never below the map's own size), the sky warp H_sky^n above row int(R * horizon) and the
    earth warp H_earth^n below, re-standardisation to the upsampled map's mean and std, bicubic downsampling.

    ``loop=True`` makes a seamless loop of period ``num_frames``: frame f (taken modulo N) blends A = the base map
    advanced by f steps with B = the base map advanced by f - N steps, weights 1 - f/N and f/N, then re-standardises.
    Both parts move at the motion's velocity and B lands exactly on the base map at f = N, so frame N == frame 0; the
    dissolve adds (B - A)/N per frame on top of the motion, never a jump (a cross-dissolve of textures; measured on
    smooth maps the per-frame change stays within the plain motion's). ``fractional=True`` uses real powers H^n for
    non-integer steps.
    """
    if not dynamic_noise:
        raise ValueError("dynamic_noise must be a non-empty list of (B, 1, s, s) maps.")
    for level_map in dynamic_noise:
        if level_map.dim() != 4 or level_map.shape[-1] != level_map.shape[-2]:
            raise ValueError(f"each dynamic noise map must be (B, 1, s, s), got {tuple(level_map.shape)}.")
    if num_frames < 1 or chunk_size < 1 or working_resolution < 1:
        raise ValueError("num_frames, chunk_size and working_resolution must be >= 1.")
    horizon = _check_horizon(horizon)
    sky_h, earth_h = resolve_homographies(motion, horizon)
    positions = np.arange(num_frames, dtype=np.float64) if frame_indices is None else np.asarray(frame_indices, float)
    positions = positions.reshape(-1)

    # 1. The recipe of every frame: one or two (exponent, weight) components.
    components, untouched = frame_recipe(positions, num_frames, loop, fractional)

    outputs: list[list[torch.Tensor]] = [[] for _ in dynamic_noise]
    for start in range(0, len(positions), chunk_size):
        frames = slice(start, start + chunk_size)
        # 2. Homography powers and sampling grids, shared by all levels warped at the same resolution.
        grids: dict[int, list[tuple[torch.Tensor, np.ndarray]]] = {}
        for level, level_map in enumerate(dynamic_noise):
            size = level_map.shape[-1]
            resolution = max(working_resolution, size)
            if resolution not in grids:
                grids[resolution] = [
                    (
                        _horizon_grid(
                            homography_powers(sky_h, list(exps[frames]), fractional),
                            homography_powers(earth_h, list(exps[frames]), fractional),
                            resolution,
                            resolution,
                            horizon,
                            level_map.device,
                        ).to(dtype=level_map.dtype),
                        weights[frames],
                    )
                    for exps, weights in components
                ]
            outputs[level].append(
                _warp_level(level_map, grids[resolution], resolution, torch.from_numpy(untouched[frames]))
            )
    return [torch.cat(chunks, dim=1) for chunks in outputs]


def _warp_level(
    level_map: torch.Tensor, grids: list[tuple[torch.Tensor, np.ndarray]], resolution: int, untouched: torch.Tensor
) -> torch.Tensor:
    """One level, one chunk of frames: (B, 1, s, s) -> (B, t, 1, s, s) following the official noise_cycle_shift."""
    batch, channels, size, _ = level_map.shape
    num_frames = grids[0][0].shape[0]
    upsampled = level_map
    if size != resolution:
        upsampled = F.interpolate(level_map, size=(resolution, resolution), mode="bicubic", align_corners=False)
    frames_in = upsampled[:, None].expand(batch, num_frames, channels, resolution, resolution)
    frames_in = frames_in.reshape(batch * num_frames, channels, resolution, resolution)  # (B*t, C, R, R)
    blended = None
    for grid, weights in grids:
        batched_grid = grid[None].expand(batch, *grid.shape).reshape(batch * num_frames, resolution, resolution, 2)
        warped = _grid_sample(frames_in, batched_grid, "bilinear", "reflection")
        if not np.all(weights == 1.0):
            weight = torch.as_tensor(weights, dtype=level_map.dtype, device=level_map.device).repeat(batch)
            warped = weight.view(-1, 1, 1, 1) * warped
        blended = warped if blended is None else blended + warped
    blended = blended.view(batch, num_frames, channels, resolution, resolution)
    # Official: the statistics come from the upsampled map, and the rescale happens before downsampling.
    blended = standardize_like(blended, upsampled[:, None])
    if size != resolution:
        flat = blended.reshape(batch * num_frames, channels, resolution, resolution)
        blended = F.interpolate(flat, size=(size, size), mode="bicubic", align_corners=False)
        blended = blended.view(batch, num_frames, channels, size, size)
    keep = untouched.to(level_map.device).view(1, num_frames, 1, 1, 1)
    return torch.where(keep, level_map[:, None], blended)


def warp_dynamic_noise(
    dynamic_noise: Sequence[torch.Tensor],
    homographies: MotionLike,
    n: float,
    horizon: float,
    working_resolution: int = WORKING_RESOLUTION,
    fractional: bool = False,
) -> list[torch.Tensor]:
    """One frame of the official recipe: every level (B, 1, s, s) warped by H^n (see `warp_noise_video`)."""
    frames = warp_noise_video(
        dynamic_noise,
        homographies,
        1,
        horizon,
        frame_indices=[n],
        working_resolution=working_resolution,
        fractional=fractional,
    )
    return [level[:, 0] for level in frames]
