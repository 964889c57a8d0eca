"""Spatial noise maps S^st / S^dyn: creation, re-standardisation and the two translation motions (SHIFT and LOOP).

Paper section 3.1 (one static and one dynamic single-channel map per resolution); mirrors the official `model.py`
(`get_noise`, `gen_stationary_step_noise`, `gen_dyn_step_noise`, `bilinear_warp`). Homography motion (the one the
paper animates real photos with) lives in `motion.py` and reuses `standardize_like` from here.

Conventions: a noise "pyramid" is a list over levels; entry ``level`` is (B, 1, s, s) with s = 4 * 2**level. Videos
put T after B: (B, T, 1, s, s). Offsets follow the official sampling convention, output(p) = input(p + offset), so
the content appears to move by **minus** the offset.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

BASE_RESOLUTION = 4  # official Generator: level 0 is the 4 px constant-input block
VELOCITY = 1.0  # official constants.VELOCITY: SHIFT-mode velocity ~ N(0, 1)^2 * VELOCITY
STD_EPS = 1e-8  # guards the division in standardize_like against constant maps

TranslateMethod = Literal["bilinear", "fourier"]
TRANSLATE_METHODS = ("bilinear", "fourier")


def noise_resolution(level: int) -> int:
    """Side length in pixels of the noise map at ``level`` (level 0 = 4 px)."""
    if level < 0:
        raise ValueError(f"level must be >= 0, got {level}.")
    return BASE_RESOLUTION * 2**level


def num_levels_for_resolution(resolution: int) -> int:
    """Number of noise levels a generator of ``resolution`` px uses (256 px -> 7 levels, 512 px -> 8)."""
    levels = math.log2(resolution / BASE_RESOLUTION) + 1 if resolution >= BASE_RESOLUTION else -1
    if levels < 1 or levels != int(levels):
        raise ValueError(f"resolution must be 4 * 2**k (4, 8, ..., 256, 512, 1024), got {resolution}.")
    return int(levels)


def make_noise(
    num_levels: int,
    batch_size: int = 1,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[torch.Tensor]:
    """Draw one N(0, 1) map per level, (B, 1, s, s) each, from ``generator`` (never the global seed)."""
    if num_levels < 1 or batch_size < 1:
        raise ValueError(f"num_levels and batch_size must be >= 1, got {num_levels} and {batch_size}.")
    return [
        torch.randn(batch_size, 1, s, s, generator=generator, device=device, dtype=dtype)
        for s in (noise_resolution(level) for level in range(num_levels))
    ]


def make_static_and_dynamic_noise(
    num_levels: int,
    batch_size: int = 1,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Draw the two pyramids every block needs: ``(static_noise, dynamic_noise)``.

    All static levels are drawn first, then all dynamic ones, so that adding levels never changes the static maps of
    a seed. (Official: alternates per level on CUDA; random streams cannot match across devices anyway.)
    """
    static_noise = make_noise(num_levels, batch_size, generator=generator, device=device, dtype=dtype)
    dynamic_noise = make_noise(num_levels, batch_size, generator=generator, device=device, dtype=dtype)
    return static_noise, dynamic_noise


def standardize_like(
    x: torch.Tensor, reference: torch.Tensor, dims: Sequence[int] = (-2, -1), eps: float = STD_EPS
) -> torch.Tensor:
    """Give ``x`` the mean and standard deviation of ``reference``, computed over ``dims`` (default: per map).

    Resampling (bicubic up/down, bilinear warps) smooths white noise and shrinks its variance; the generator was
    trained on N(0, 1) maps, so warped maps are rescaled back (official `rescale_after_shift`). The statistics of
    ``reference`` must broadcast against those of ``x`` (e.g. x (B, T, 1, s, s) and reference (B, 1, 1, s, s)).
    """
    dims = tuple(dims)
    std_x, mean_x = torch.std_mean(x, dim=dims, keepdim=True)
    std_ref, mean_ref = torch.std_mean(reference, dim=dims, keepdim=True)
    return (x - mean_x) / (std_x + eps) * std_ref + mean_ref


def translate_periodic(
    noise: torch.Tensor, offsets_px: torch.Tensor, method: TranslateMethod = "bilinear"
) -> torch.Tensor:
    """Translate a map on a torus: output_t(p) = noise((p + offsets_px[t]) mod size), for every frame t.

    noise: (B, C, H, W); offsets_px: (T, 2) as (dx, dy) in pixels; returns (B, T, C, H, W).
    ``bilinear`` interpolates between the 4 wrapped neighbours (the official SHIFT arithmetic, without its seam: the
    official `grid_sample` zero-pads the last half pixel before wrapping). ``fourier`` multiplies the spectrum by a
    phase ramp: an exact, variance-preserving sub-pixel shift of the periodic band-limited map (only the Nyquist
    row/column of even sizes is attenuated), so white noise stays white instead of pulsing blurrier between pixels.
    """
    if noise.dim() != 4:
        raise ValueError(f"noise must have shape (B, C, H, W), got {tuple(noise.shape)}.")
    offsets_px = torch.as_tensor(offsets_px, dtype=torch.float64, device=noise.device)
    if offsets_px.dim() != 2 or offsets_px.shape[1] != 2:
        raise ValueError(f"offsets_px must have shape (T, 2) as (dx, dy), got {tuple(offsets_px.shape)}.")
    if method == "bilinear":
        return _translate_bilinear(noise, offsets_px)
    if method == "fourier":
        return _translate_fourier(noise, offsets_px)
    raise ValueError(f"method must be one of {TRANSLATE_METHODS}, got {method!r}.")


def _translate_bilinear(noise: torch.Tensor, offsets_px: torch.Tensor) -> torch.Tensor:
    batch, channels, height, width = noise.shape
    num_frames = offsets_px.shape[0]
    whole = torch.floor(offsets_px)
    frac = (offsets_px - whole).to(noise.dtype)  # (T, 2)
    whole = whole.long()
    rows0 = (torch.arange(height, device=noise.device)[None] + whole[:, 1:2]) % height  # (T, H)
    cols0 = (torch.arange(width, device=noise.device)[None] + whole[:, 0:1]) % width  # (T, W)
    rows1, cols1 = (rows0 + 1) % height, (cols0 + 1) % width

    def sample(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        picked_rows = noise[:, :, rows]  # (B, C, T, H, W)
        index = cols[None, None, :, None, :].expand(batch, channels, num_frames, height, width)
        return picked_rows.gather(-1, index)

    ax = frac[:, 0].view(1, 1, num_frames, 1, 1)
    ay = frac[:, 1].view(1, 1, num_frames, 1, 1)
    top = (1 - ax) * sample(rows0, cols0) + ax * sample(rows0, cols1)
    bottom = (1 - ax) * sample(rows1, cols0) + ax * sample(rows1, cols1)
    return ((1 - ay) * top + ay * bottom).permute(0, 2, 1, 3, 4)  # (B, T, C, H, W)


def _translate_fourier(noise: torch.Tensor, offsets_px: torch.Tensor) -> torch.Tensor:
    height, width = noise.shape[-2:]
    spectrum = torch.fft.fft2(noise.to(torch.float64))  # (B, C, H, W)
    freq_y = torch.fft.fftfreq(height, device=noise.device, dtype=torch.float64)  # cycles per pixel
    freq_x = torch.fft.fftfreq(width, device=noise.device, dtype=torch.float64)
    # x(p + d) has spectrum X(k) exp(2 pi i k d)
    phase = offsets_px[:, 1, None, None] * freq_y[None, :, None] + offsets_px[:, 0, None, None] * freq_x[None, None, :]
    ramp = torch.polar(torch.ones_like(phase), 2 * math.pi * phase)  # (T, H, W)
    shifted = torch.fft.ifft2(spectrum[:, None] * ramp[None, :, None]).real  # (B, T, C, H, W)
    return shifted.to(noise.dtype)


def shift_maps(
    big_maps: Sequence[torch.Tensor], velocity: torch.Tensor | Sequence[float], num_frames: int
) -> list[torch.Tensor]:
    """SHIFT mode from given 2s x 2s maps: translate each by velocity * linspace(-1, 1, T), wrap, crop top-left s x s.

    big_maps: per level (B, 1, 2s, 2s). velocity: (vx, vy) in normalised units of the 2s map, where 2 units span the
    map, so the offset in pixels is velocity * tau * s; all levels move by the same fraction of the image. Returns per
    level (B, T, 1, s, s). (Official: `flow[:, [1, 0]]` applies its first velocity coordinate to y; the velocity is
    isotropic N(0, 1)^2, so naming it (vx, vy) changes nothing in distribution.)
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}.")
    velocity = torch.as_tensor(velocity, dtype=torch.float64).reshape(-1)
    if velocity.numel() != 2:
        raise ValueError(f"velocity must hold 2 numbers (vx, vy), got {velocity.numel()}.")
    tau = torch.linspace(-1.0, 1.0, num_frames, dtype=torch.float64)  # official shift_values time axis
    frames = []
    for big in big_maps:
        if big.dim() != 4 or big.shape[-1] != big.shape[-2] or big.shape[-1] % 2:
            raise ValueError(f"each big map must be (B, 1, 2s, 2s), got {tuple(big.shape)}.")
        size = big.shape[-1] // 2
        offsets_px = tau[:, None] * velocity[None, :] * size  # (T, 2)
        shifted = translate_periodic(big, offsets_px.to(big.device), method="bilinear")
        frames.append(shifted[..., :size, :size].contiguous())
    return frames


def shift_noise(
    num_levels: int,
    num_frames: int,
    batch_size: int = 1,
    *,
    velocity: torch.Tensor | Sequence[float] | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[torch.Tensor]:
    """Official SHIFT mode: dynamic noise that translates at a constant velocity shared by all levels and samples.

    Used for the training-time sample videos and `generate --change_modes shift`. ``velocity`` (vx, vy) defaults to
    N(0, 1)^2 * VELOCITY drawn from ``generator`` before the maps (the official order). Returns (B, T, 1, s, s) per
    level; frame 0 is already offset by -velocity (tau runs from -1 to 1, as in the official code).
    """
    if velocity is None:
        velocity = torch.randn(2, generator=generator, dtype=torch.float64) * VELOCITY
    big_maps = [
        torch.randn(batch_size, 1, 2 * s, 2 * s, generator=generator, device=device, dtype=dtype)
        for s in (noise_resolution(level) for level in range(num_levels))
    ]
    return shift_maps(big_maps, velocity, num_frames)


def loop_noise(
    noise: Sequence[torch.Tensor],
    num_frames: int,
    *,
    cycles: tuple[int, int] = (1, 0),
    horizon: float | None = None,
    frame_indices: Sequence[float] | torch.Tensor | None = None,
    method: TranslateMethod = "fourier",
    restandardize: bool = True,
) -> list[torch.Tensor]:
    """LOOP mode: translate each map on a torus by whole map widths over ``num_frames``, so frame N equals frame 0.

    At frame f the offset is cycles * s * f / N pixels at every level, i.e. the same fraction of the image, so the
    levels move together; after N frames each map has travelled exactly ``cycles`` periods and is back where it
    started. With ``horizon`` (fraction from the top) rows below int(s * horizon) use (cx, -cy): the vertical motion
    is mirrored for water, as in the homography presets. ``frame_indices`` renders other frames (default 0..N-1;
    index N gives frame 0 again). Offsets use the official sign: content drifts by minus ``cycles`` widths per loop.
    Speed: one cycle over N frames moves 2/N normalised units per frame; pick N or cycles accordingly.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}.")
    if len(cycles) != 2 or any(float(c) != int(c) for c in cycles):
        raise ValueError(f"cycles must be 2 integers (whole map widths per loop), got {cycles}.")
    if horizon is not None and not 0.0 <= horizon <= 1.0:
        raise ValueError(f"horizon must be a fraction in [0, 1] (0 = top), got {horizon}.")
    if frame_indices is None:
        frame_indices = torch.arange(num_frames, dtype=torch.float64)
    positions = torch.as_tensor(frame_indices, dtype=torch.float64).reshape(-1) / num_frames  # in loops
    sky_cycles = torch.tensor([float(cycles[0]), float(cycles[1])], dtype=torch.float64)
    water_cycles = sky_cycles * torch.tensor([1.0, -1.0], dtype=torch.float64)
    frames = []
    for level_map in noise:
        size = level_map.shape[-1]
        sky = translate_periodic(level_map, (positions[:, None] * sky_cycles * size).to(level_map.device), method)
        if horizon is not None and int(size * horizon) < size and cycles[1] != 0:
            water = translate_periodic(
                level_map, (positions[:, None] * water_cycles * size).to(level_map.device), method
            )
            rows = int(size * horizon)
            sky = torch.cat([sky[..., :rows, :], water[..., rows:, :]], dim=-2)
        if restandardize:
            sky = standardize_like(sky, level_map.unsqueeze(1))
        frames.append(sky)
    return frames
