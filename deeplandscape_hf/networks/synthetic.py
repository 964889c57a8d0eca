"""Fully synthetic landscape videos from the generator alone (paper section 4; official ``generate.py``).

A video is one sample: z_st, the static maps S_st and (optionally) the style-mixing latent are shared by all frames.
Two things change over time (the authors' mode ``homography``):

- **motion**: frame f uses the dynamic maps S_dyn warped by H^f, always applied to the *original* maps, so errors do
  not accumulate (`motion.warp_noise_video`);
- **time of day**: z_dyn, the last coordinates of z. By default it follows the official INTERPOLATE mode, a slerp
  between two random N(0, 1) draws. A named style sets z_dyn to the style's target vector: the targets are z-space
  coordinates, and a synthetic video *has* a z, so network A (which approximates this move for inverted photos,
  whose z is unknown) is not needed. ``style_strength`` t < 1 moves only part of the way with network A's own
  training relation z_dyn = sqrt(1 - t) z_dyn_own + sqrt(t) target.

Frames are rendered in chunks of ``batch_size`` under ``torch.inference_mode``: w is mapped once per distinct z_dyn,
the noise of a chunk is warped just before it is needed, and only the output video is held in memory.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..motion.homographies import Motion, MotionLike, MotionPreset, get_motion, warp_noise_video
from ..motion.styles import STYLE_NAMES, StylePath, StyleVocabulary, slerp, style_path
from .precision import DtypeLike, autocast


class GeneratorLike(Protocol):
    """What sampling uses of the generator. `generator.DeepLandscapeGenerator` provides it; naming the needs here
    rather than importing that class keeps one direction between the two modules (its `generate_video` calls us)."""

    w_avg: torch.Tensor

    @property
    def device(self) -> torch.device: ...
    @property
    def resolution(self) -> int: ...
    @property
    def num_levels(self) -> int: ...
    def sample_z(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor: ...
    def split_z(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...
    def join_z(self, z_static: torch.Tensor, z_dynamic: torch.Tensor) -> torch.Tensor: ...
    def map(self, z: torch.Tensor) -> torch.Tensor: ...
    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor: ...
    def broadcast_w(self, w: torch.Tensor) -> torch.Tensor: ...
    def mix_styles(self, w_plus: torch.Tensor, w_other: torch.Tensor, crossover_level: int) -> torch.Tensor: ...
    def make_noise(
        self, batch_size: int, level: int | None = None, generator: torch.Generator | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]: ...
    def synthesize(
        self, w_plus: torch.Tensor, static_noise: Sequence[torch.Tensor], dynamic_noise: Sequence[torch.Tensor]
    ) -> torch.Tensor: ...


logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_HORIZON",
    "KEEP_STYLE",
    "SyntheticVideo",
    "StyleLike",
    "generate_video",
    "plan_video",
    "tune_cpu_allocator",
]

DEFAULT_HORIZON = 0.5  # official constants.HORIZON_LINE: synthetic videos split sky / water at half height
DEFAULT_TRUNCATION = 0.7  # official constants.TRUNCATION_PSI
KEEP_STYLE = "keep"  # style option: z's own z_dyn on every frame (official REPEAT mode, `noise_homography`)
NO_MOTION = ("none", "still")  # motion names that leave S_dyn fixed (official FIXED mode, `style`)
GLIBC_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
GLIBC_M_MMAP_MAX = -4
ALLOCATOR_TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of freed heap for reuse

StyleLike = str | StylePath | torch.Tensor | Sequence[tuple[float, str | Sequence[float]]] | None


def _valid_styles_text() -> str:
    return (
        f"None (random slerp, the official default), '{KEEP_STYLE}', {', '.join(repr(n) for n in STYLE_NAMES)}, "
        "a z_dyn tensor (3,) or (T, 3), a StylePath, or (time, style) keyframes"
    )


def _resolve_motion(motion: MotionLike | None, speed: float) -> MotionLike | None:
    """A preset / CSV / Motion with ``speed`` applied, or None for no motion. Raises ValueError listing presets."""
    if motion is None or (isinstance(motion, str) and motion.lower() in NO_MOTION):
        return None
    if isinstance(motion, (str, Path, MotionPreset)):
        return get_motion(motion, speed)
    if isinstance(motion, Motion):
        water = None if motion.water is None else motion.water.scaled(speed)
        return Motion(motion.sky.scaled(speed), water)
    if speed != 1.0:
        raise ValueError("speed can only scale a preset, CSV or Motion; a ready (sky_H, earth_H) pair is used as is.")
    return motion


class SyntheticVideo:
    """Everything that defines one synthetic video except which frames are rendered.

    Build it with `plan_video`. ``render()`` gives frames 0..T-1; ``render(frame_indices)`` any others (in loop mode
    frame T equals frame 0, frame -1 equals frame T-1). Rendering is deterministic: the plan holds all randomness.
    """

    def __init__(
        self,
        model: GeneratorLike,
        num_frames: int,
        z: torch.Tensor,
        static_noise: list[torch.Tensor],
        dynamic_noise: list[torch.Tensor],
        z_dynamic_at: Callable[[np.ndarray], torch.Tensor],
        motion: MotionLike | None,
        horizon: float,
        loop: bool,
        truncation: float,
        working_resolution: int,
        mixing_z: torch.Tensor | None = None,
        crossover_level: int | None = None,
    ):
        self.model = model
        self.num_frames = num_frames
        self.z = z  # (1, z_dim): z_st and the video's own z_dyn
        self.static_noise = static_noise  # per level (1, 1, s, s)
        self.dynamic_noise = dynamic_noise  # per level (1, 1, s, s): the unwarped maps of frame 0
        self.z_dynamic_at = z_dynamic_at
        self.motion = motion
        self.horizon = horizon
        self.loop = loop
        self.truncation = truncation
        self.working_resolution = working_resolution
        self.mixing_z = mixing_z
        self.crossover_level = crossover_level

    def _indices(self, frame_indices: Sequence[int] | np.ndarray | None) -> np.ndarray:
        if frame_indices is None:
            return np.arange(self.num_frames)
        indices = np.asarray(frame_indices).reshape(-1)
        if indices.size == 0 or not np.all(np.equal(np.mod(indices, 1), 0)):
            raise ValueError(f"frame_indices must be a non-empty sequence of whole frame numbers, got {indices}.")
        return indices.astype(np.int64)

    def z_dynamic(self, frame_indices: Sequence[int] | np.ndarray | None = None) -> torch.Tensor:
        """z_dyn of each frame, (n, z_dynamic_dim)."""
        return self.z_dynamic_at(self._indices(frame_indices)).to(self.z)

    def _styles(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """(w, mixing w or None) per distinct z_dyn (U, w_dim), and each frame's row in them (n,): M runs U times."""
        unique, inverse = torch.unique(self.z_dynamic(indices), dim=0, return_inverse=True)

        def styles_of(z: torch.Tensor) -> torch.Tensor:
            z_static = self.model.split_z(z)[0].expand(len(unique), -1)
            return self.model.truncate(self.model.map(self.model.join_z(z_static, unique)), self.truncation)

        # Official: both latents of a mixed sample receive the same z_dyn.
        return styles_of(self.z), None if self.mixing_z is None else styles_of(self.mixing_z), inverse

    def _w_plus(self, w: torch.Tensor, other: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor:
        w_plus = self.model.broadcast_w(w[rows])
        return w_plus if other is None else self.model.mix_styles(w_plus, other[rows], self.crossover_level)

    def w_plus(self, frame_indices: Sequence[int] | np.ndarray | None = None) -> torch.Tensor:
        """W+ of each frame (n, num_ws, w_dim), mapping M once per distinct z_dyn."""
        w, other, inverse = self._styles(self._indices(frame_indices))
        return self._w_plus(w, other, inverse)

    def dynamic_noise_at(self, frame_indices: Sequence[int] | np.ndarray) -> list[torch.Tensor]:
        """S_dyn of each frame: per level (n, 1, s, s), frame f warped by H^f from the original maps."""
        indices = self._indices(frame_indices)
        if self.motion is None:
            return [level.expand(len(indices), -1, -1, -1) for level in self.dynamic_noise]
        warped = warp_noise_video(
            self.dynamic_noise,
            self.motion,
            self.num_frames,
            self.horizon,
            frame_indices=indices.astype(np.float64),
            loop=self.loop,
            working_resolution=self.working_resolution,
            chunk_size=max(1, len(indices)),
        )
        return [level[0] for level in warped]  # (1, n, 1, s, s) -> (n, 1, s, s)

    def iter_chunks(
        self, frame_indices: Sequence[int] | np.ndarray | None = None, batch_size: int = 8, dtype: DtypeLike = "auto"
    ) -> Iterator[tuple[slice, torch.Tensor]]:
        """Yield (positions in ``frame_indices``, frames (n, 3, H, W) unclamped) chunk by chunk, for streaming.

        ``dtype``: precision of the synthesis, ``"auto"``, ``"float32"`` or ``"bfloat16"`` (autocast); see
        `deeplandscape_hf.networks.precision` for what ``"auto"`` picks. Frames come back in fp32 either way.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        indices = self._indices(frame_indices)
        # Inference mode is entered per step, not across the yields: the caller's code between chunks runs normally.
        with torch.inference_mode():
            w, other, inverse = self._styles(indices)  # (U, w_dim): W+ is only built per chunk
        for start in range(0, len(indices), batch_size):
            chunk = slice(start, min(start + batch_size, len(indices)))
            count = chunk.stop - chunk.start
            with torch.inference_mode():
                static = [level.expand(count, -1, -1, -1) for level in self.static_noise]
                dynamic = self.dynamic_noise_at(indices[chunk])
                with autocast(dtype, self.model.device):
                    images = self.model.synthesize(self._w_plus(w, other, inverse[chunk]), static, dynamic)
            yield chunk, images

    def render(
        self,
        frame_indices: Sequence[int] | np.ndarray | None = None,
        batch_size: int = 8,
        progress: bool = False,
        clamp: bool = True,
        dtype: DtypeLike = "auto",
    ) -> torch.Tensor:
        """Frames (n, 3, H, W) float32 on the model's device, clamped to [-1, 1] unless ``clamp=False``.

        ``dtype``: precision of the synthesis, as in `iter_chunks`.
        """
        indices = self._indices(frame_indices)
        resolution = self.model.resolution
        frames = torch.empty(len(indices), 3, resolution, resolution, device=self.model.device)
        chunks = self.iter_chunks(indices, batch_size, dtype)
        if progress:
            from tqdm.auto import tqdm

            chunks = tqdm(chunks, total=math.ceil(len(indices) / batch_size), desc="rendering frames", unit="chunk")
        for chunk, images in chunks:
            frames[chunk] = images.clamp(-1, 1) if clamp else images
        return frames


def tune_cpu_allocator(trim_threshold_bytes: int = ALLOCATOR_TRIM_THRESHOLD) -> bool:
    """Make glibc keep freed memory for reuse instead of handing it back to the kernel. Process-wide; True if applied.

    Why: every layer of the synthesis allocates a fresh output, and at 256 px a batch of 8 frames makes tensors of
    100+ MB. glibc serves those with mmap and unmaps them on free, so each one is page-faulted and zeroed again: we
    measured ~130k page faults and ~0.4 s of kernel time per frame, a third of the wall time. With mmap off and a high
    trim threshold the heap is reused (same peak memory). Entry points (CLI, app, benchmarks) call this once; library
    code must not, since it changes the allocator of the whole process. Does nothing off glibc (macOS, musl).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    applied = mallopt(GLIBC_M_MMAP_MAX, 0) == 1
    return mallopt(GLIBC_M_TRIM_THRESHOLD, min(int(trim_threshold_bytes), 2**31 - 1)) == 1 and applied


def _z_dynamic_function(
    style: StyleLike,
    num_frames: int,
    loop: bool,
    own: torch.Tensor,
    generator: torch.Generator | None,
    strength: float,
    vocabulary: StyleVocabulary | None = None,
) -> Callable[[np.ndarray], torch.Tensor]:
    """frame indices (n,) -> z_dyn (n, d). Randomness (the official slerp end points) is drawn here, once."""
    dim = own.shape[-1]
    period = num_frames if loop else max(num_frames - 1, 1)

    def towards(target: torch.Tensor) -> torch.Tensor:
        # Network A's training relation (dynamics.sample_dynamics_batch): z2 = sqrt(1 - t) z1 + sqrt(t) z_target.
        return math.sqrt(1 - strength) * own + math.sqrt(strength) * target

    if style is None:
        # Official INTERPOLATE: slerp between two fresh N(0, 1) draws, t = linspace(0, 1, T). Loop: there and back,
        # t = (1 - cos(2 pi f / T)) / 2, so frame T is frame 0 and the path turns smoothly at both ends.
        device = generator.device if generator is not None else own.device
        start = torch.randn(1, dim, generator=generator, device=device).to(own)
        end = torch.randn(1, dim, generator=generator, device=device).to(own)

        def random_path(indices: np.ndarray) -> torch.Tensor:
            phase = indices / period
            t = (1 - np.cos(2 * math.pi * phase)) / 2 if loop else np.clip(phase, 0.0, 1.0)
            return slerp(start[0], end[0], torch.as_tensor(t, dtype=own.dtype, device=own.device))

        return random_path
    if isinstance(style, str) and style == KEEP_STYLE:
        return lambda indices: own.expand(len(indices), -1)
    if isinstance(style, torch.Tensor):
        values = style.detach().to(own)
        if values.shape == (dim,):
            return lambda indices: towards(values).expand(len(indices), -1)
        if values.dim() == 2 and values.shape[1] == dim and len(values) >= 1:
            last = len(values) - 1

            def per_frame(indices: np.ndarray) -> torch.Tensor:
                rows = np.mod(indices, len(values)) if loop else np.clip(indices, 0, last)
                return towards(values[torch.as_tensor(rows, device=values.device)])

            return per_frame
        raise ValueError(
            f"a style tensor must be z_dyn ({dim},) or one per frame (T, {dim}); got {tuple(style.shape)}."
        )
    try:
        path = style_path(style, vocabulary=vocabulary)  # names, 'day_cycle', keyframes, StylePath
    except TypeError:
        raise ValueError(f"unknown style {style!r}; valid: {_valid_styles_text()}.") from None
    if loop and not path.is_closed:
        raise ValueError(
            f"loop=True needs a closed style path (last keyframe equal to the first); {path.name!r} is open."
        )
    span = path.times[-1] - path.times[0]

    def along_path(indices: np.ndarray) -> torch.Tensor:
        times = path.times[0] + span * (indices / period if loop else np.clip(indices / period, 0.0, 1.0))
        targets = path(times, periodic=loop)[:, :dim]  # [z_dyn target, t] -> z_dyn target
        return towards(targets.to(own))

    return along_path


def plan_video(
    model: GeneratorLike,
    num_frames: int = 60,
    *,
    seed: int | None = 0,
    z: torch.Tensor | None = None,
    motion: MotionLike | None = "m01",
    speed: float = 1.0,
    style: StyleLike = None,
    style_strength: float = 1.0,
    truncation: float = DEFAULT_TRUNCATION,
    loop: bool = False,
    horizon: float = DEFAULT_HORIZON,
    mixing: bool = False,
    working_resolution: int | None = None,
    generator: torch.Generator | None = None,
    vocabulary: StyleVocabulary | None = None,
) -> SyntheticVideo:
    """Draw the randomness of one video and fix its recipe; see `generate_video` for the arguments.

    Draw order from the generator (stable, so adding frames never changes a seed's video): z, the mixing latent and
    crossover (only with ``mixing``), the noise maps, then the random style end points (only with ``style=None``).
    """
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be a positive int, got {num_frames!r}.")
    if not 0.0 <= float(style_strength) <= 1.0:
        raise ValueError(f"style_strength must be in [0, 1], got {style_strength}.")
    if not 0.0 <= float(horizon) <= 1.0:
        raise ValueError(f"horizon must be a fraction of the height in [0, 1] (0 = top), got {horizon}.")
    if not math.isfinite(float(truncation)):
        raise ValueError(f"truncation must be a finite number (1 = none, official 0.7), got {truncation}.")
    resolved_motion = _resolve_motion(motion, speed)  # fails fast on unknown presets
    if generator is None:
        if seed is None:
            raise ValueError("pass seed=<int> or generator=torch.Generator(...).")
        generator = torch.Generator().manual_seed(int(seed))

    # 1. Latents: z (replaced by the caller's z, drawn anyway so that the noise of a seed stays the same).
    drawn = model.sample_z(1, generator)
    if z is not None:
        z = torch.as_tensor(z, dtype=drawn.dtype).to(model.device).reshape(1, -1)
        model.split_z(z)  # shape check with a clear error
    else:
        z = drawn
    mixing_z = crossover = None
    if mixing:
        # Official: 2 latents, crossover = random.sample(range(step), 1); blocks above it take the second style.
        mixing_z = model.sample_z(1, generator)
        crossover = int(torch.randint(max(model.num_levels - 1, 1), (1,), generator=generator))
    # 2. Noise: S_st and the unwarped S_dyn of frame 0.
    static_noise, dynamic_noise = model.make_noise(1, generator=generator)
    # 3. Time of day.
    own = model.split_z(z)[1][0]
    z_dynamic_at = _z_dynamic_function(style, num_frames, loop, own, generator, float(style_strength), vocabulary)

    if truncation != 1 and not torch.any(model.w_avg != 0):
        logger.warning("w_avg is all zeros, so truncation pulls styles toward 0: run compute_w_avg() or truncation=1.")
    return SyntheticVideo(
        model,
        num_frames,
        z,
        static_noise,
        dynamic_noise,
        z_dynamic_at,
        resolved_motion,
        float(horizon),
        bool(loop),
        float(truncation),
        int(working_resolution or model.resolution),
        mixing_z,
        crossover,
    )


def generate_video(
    model: GeneratorLike,
    num_frames: int = 60,
    seed: int | None = 0,
    z: torch.Tensor | None = None,
    motion: MotionLike | None = "m01",
    speed: float = 1.0,
    style: StyleLike = None,
    truncation: float = DEFAULT_TRUNCATION,
    loop: bool = False,
    horizon: float = DEFAULT_HORIZON,
    batch_size: int = 8,
    generator: torch.Generator | None = None,
    progress: bool = False,
    *,
    mixing: bool = False,
    style_strength: float = 1.0,
    working_resolution: int | None = None,
    clamp: bool = True,
    dtype: DtypeLike = "auto",
    vocabulary: StyleVocabulary | None = None,
) -> torch.Tensor:
    """Render a synthetic landscape video: float (T, 3, H, W) in [-1, 1] on the model's device.

    Args:
        model: the generator (``eval()`` mode is not required: it has no dropout or batch norm).
        num_frames: T >= 1.
        seed: seeds the whole video (ignored when ``generator`` is given). Same seed, same video.
        z: (z_dim,) or (1, z_dim) to choose the sample; its z_dyn is used only with ``style="keep"``.
        motion: cloud motion of S_dyn: a preset (``m01``..``m12``, ``man1``..``man5``), a CSV path, a
            `MotionPreset` / `Motion`, a (sky_H, earth_H) pair, or None / ``"none"`` for still noise.
        speed: multiplies the preset's per-frame shifts (the paper uses 0.5, 1, 2.5, 4).
        style: time of day. None: the official random slerp between two N(0, 1) z_dyn. A style name
            (``warm_sunset`` ...): z_dyn = that target on every frame. ``day_cycle`` or keyframes: z_dyn follows the
            path over the video. ``"keep"``: z's own z_dyn. A tensor: z_dyn (3,) or per frame (T, 3).
        truncation: psi around ``model.w_avg`` (1 = none; official 0.7).
        loop: seamless loop of period T: the noise blends two motions that meet after T frames
            (`motion.warp_noise_video`) and z_dyn follows a closed path, so frame T would equal frame 0.
        horizon: fraction of the height above which the sky motion applies; below it, mirrored (water).
        batch_size: frames synthesised together; memory grows with it, speed per frame barely.
        generator: a ``torch.Generator`` to draw from instead of ``seed``.
        progress: show a tqdm bar over chunks.
        mixing: style mixing with a second latent, as official generation does (random crossover level).
        style_strength: t in [0, 1] for named styles / paths: z_dyn = sqrt(1 - t) z_dyn_own + sqrt(t) target.
        working_resolution: resolution at which S_dyn is warped (default: the model's; official inference uses 256
            or 512, official ``generate.py`` the maps' own).
        clamp: clamp to [-1, 1] (what every writer does anyway); False returns the raw generator output.
        dtype: ``"auto"``, ``"float32"`` or ``"bfloat16"`` (autocast); see `deeplandscape_hf.networks.precision` for
            what ``"auto"`` picks. Frames come back in fp32 either way.
        vocabulary: what style names mean for this model (its pipeline.json ``styles``, `StyleVocabulary`);
            default: the authors' targets.
    """
    plan = plan_video(
        model,
        num_frames,
        seed=seed,
        z=z,
        motion=motion,
        speed=speed,
        style=style,
        style_strength=style_strength,
        truncation=truncation,
        loop=loop,
        horizon=horizon,
        mixing=mixing,
        working_resolution=working_resolution,
        generator=generator,
        vocabulary=vocabulary,
    )
    return plan.render(batch_size=batch_size, progress=progress, clamp=clamp, dtype=dtype)
