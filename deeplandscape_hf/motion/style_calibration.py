"""What a style name promises, and finding the z_dyn target that keeps the promise in a model.

A name promises a change of look (``COLOUR_CHANGES``): sky and land lightness ratios and sky a*/b* shifts, measured
in CIELAB over the top and bottom quarters of a picture against its own look. ``calibrate_styles`` searches network
A's targets on random scenes of a model and writes what it finds into the model's vocabulary (``StyleVocabulary``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch

from .styles import DYNAMIC_STYLE_SIZE, STYLE_TARGETS, StyleEntry, StyleVocabulary, style_level_indices


def srgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """CIELAB (D65) of sRGB colours in [0, 1], channel last: (..., 3) -> (..., 3) as L* in [0, 100], a*, b*."""
    rgb = rgb.clamp(0.0, 1.0).double()
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    to_xyz = torch.tensor(
        [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
        dtype=torch.float64,
        device=rgb.device,
    )
    white = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64, device=rgb.device)
    xyz = (linear @ to_xyz.T) / white
    delta = 6 / 29
    f = torch.where(xyz > delta**3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * delta**2) + 4 / 29)
    lab = torch.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], dim=-1)
    return lab.float()


def sky_and_land_lab(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean CIELAB of the top quarter (sky) and the bottom quarter (land) of images (..., 3, H, W) in [-1, 1].

    Quarters, not a segmentation: in a landscape the top is sky and the bottom is ground or water, and the same rule
    measures generator samples and styled photos alike. Returns two (..., 3) tensors.
    """
    height = images.shape[-2]
    quarter = max(1, height // 4)
    lab = srgb_to_lab(((images.float() + 1) / 2).movedim(-3, -1))  # (..., H, W, 3)
    return lab[..., :quarter, :, :].mean(dim=(-3, -2)), lab[..., height - quarter :, :, :].mean(dim=(-3, -2))


LOOK_KEYS = ("sky_l_ratio", "sky_da", "sky_db", "land_l_ratio")  # how a style changes a picture, see ColourChange


def look_change(sky: torch.Tensor, land: torch.Tensor, base_sky: torch.Tensor, base_land: torch.Tensor) -> torch.Tensor:
    """How a picture changed from its own look, (..., 4) in ``LOOK_KEYS`` order: sky L* ratio, sky a* and b* change,
    land L* ratio. Ratios, not differences, for lightness: "night" halves a bright and a dull photo alike."""
    sky_ratio = sky[..., 0] / base_sky[..., 0].clamp_min(1.0)
    land_ratio = land[..., 0] / base_land[..., 0].clamp_min(1.0)
    return torch.stack([sky_ratio, sky[..., 1] - base_sky[..., 1], sky[..., 2] - base_sky[..., 2], land_ratio], -1)


@dataclass(frozen=True)
class ColourChange:
    """The change of look a style name promises, measured as the sky (top quarter) and land (bottom quarter) of a
    picture change in mean CIELAB: lightness ratios and a*/b* differences. None: free.

    distance: Euclidean over the set components, lightness ratios scaled by the picture's own L* (a ratio 0.1 off on
    a sky of L* 50 is 5 L* off), so it reads like a CIELAB colour difference; without the picture's lightness, a
    typical L* 50. tolerance: the largest distance at which the name counts as reached.
    """

    sky_l_ratio: float | None = None
    sky_da: float | None = None
    sky_db: float | None = None
    land_l_ratio: float | None = None
    tolerance: float = 8.0

    def distance(self, change: torch.Tensor, lightness: torch.Tensor | None = None) -> torch.Tensor:
        """Distance of measured changes (..., 4) (``look_change``) to this one: (...).

        lightness: the unchanged pictures' sky and land L* (..., 2), to weigh the ratios by; None: L* 50 for both.
        """
        wanted = torch.tensor([getattr(self, key) if getattr(self, key) is not None else 0.0 for key in LOOK_KEYS])
        used = torch.tensor([getattr(self, key) is not None for key in LOOK_KEYS], dtype=change.dtype)
        lightness = torch.full((2,), _RATIO_SCALE) if lightness is None else lightness
        lightness = lightness.to(change)
        unit = torch.ones_like(lightness[..., 0])
        scale = torch.stack([lightness[..., 0], unit, unit, lightness[..., 1]], -1)
        return (((change - wanted.to(change.dtype)) * scale * used) ** 2).sum(-1).sqrt()

    def describe(self) -> str:
        """The promise in words of numbers, e.g. ``sky L* x0.4, b* -6; land L* x0.45``."""
        return describe_change([getattr(self, key) for key in LOOK_KEYS])


_RATIO_SCALE = 50.0  # L* of a typical picture: ColourChange.distance weighs lightness ratios by it


def describe_change(values: Sequence[float | None]) -> str:
    """A change of look (``LOOK_KEYS`` order; None: free) in words of numbers."""
    sky_ratio, da, db, land_ratio = values
    sky = [f"L* x{sky_ratio:.2f}" if sky_ratio is not None else "", f"a* {da:+.0f}" if da is not None else ""]
    sky.append(f"b* {db:+.0f}" if db is not None else "")
    land = f"; land L* x{land_ratio:.2f}" if land_ratio is not None else ""
    return "sky " + ", ".join(part for part in sky if part) + land


# What each name promises to do to a picture, in the order of the day: a clear blue day keeps the look (a little
# bluer), a bright day lightens and whitens, an evening and then a sunset warm the sky (a* and b* up) as the light
# falls, the blue hour darkens under a blue sky, the night darkens everything, a morning is pale and slightly pink.
# The night promises no hue: darkening a blue sky moves its b* towards 0 whatever tint the night has. The sunset's
# warmth (a* +8, b* +16) lies a margin past what `scripts/measure_styles.py` accepts on photos (a* +4, b* +12).
COLOUR_CHANGES: dict[str, ColourChange] = {
    "blue_day": ColourChange(sky_l_ratio=1.0, sky_da=0, sky_db=-4, land_l_ratio=1.0),
    "bright_day": ColourChange(sky_l_ratio=1.1, sky_da=0, sky_db=2, land_l_ratio=1.1),
    "bright_evening": ColourChange(sky_l_ratio=0.95, sky_da=3, sky_db=8, land_l_ratio=0.85),
    "light_sunset": ColourChange(sky_l_ratio=0.9, sky_da=6, sky_db=14, land_l_ratio=0.7),
    "warm_sunset": ColourChange(sky_l_ratio=0.8, sky_da=8, sky_db=16, land_l_ratio=0.6, tolerance=10.0),
    "blue_hour": ColourChange(sky_l_ratio=0.55, sky_db=-8, land_l_ratio=0.45, tolerance=10.0),
    "deep_night": ColourChange(sky_l_ratio=0.35, land_l_ratio=0.35, tolerance=10.0),
    "blue_morning": ColourChange(sky_l_ratio=0.95, sky_da=3, sky_db=-4, land_l_ratio=0.9),
}

# calibration candidates: the authors' targets and a grid over the likely range of z_dyn ~ N(0, 1)
_GRID_VALUES = (-3.0, -1.5, 0.0, 1.5, 3.0)
_STRENGTHS = (0.4, 0.55, 0.7, 0.85, 1.0)
_SEARCH_STEP = 0.75  # first step of the local search, in z_dyn units (its strength step is a fifth of it)
_SEARCH_ROUNDS = 10  # the step halves whenever no neighbour improves
_SEARCH_MIN_STEP = 0.1
_MAX_TARGET_NORM = 4.0  # network A learns from z_dyn ~ N(0, 1): far targets are guesses; the authors' stay under 4
DAYLIGHT_POOL = 4  # calibration picks its stand-in photos among this many times as many random scenes


@dataclass
class StyleSamples:
    """Stand-ins for photos in calibration: their unstyled images (N, 3, H, W) in [-1, 1], and ``render(targets (K,
    3), strengths (K,))`` -> (K, N, 3, H, W), the same N scenes styled toward each target."""

    unstyled: torch.Tensor
    render: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

    def __len__(self) -> int:
        return self.unstyled.shape[0]

    def one(self, index: int) -> StyleSamples:
        """Scene ``index`` alone, as one photo is (rendered with the others and picked out: simple, not fast)."""
        return StyleSamples(self.unstyled[index : index + 1], lambda t, s: self.render(t, s)[:, index : index + 1])


@dataclass(frozen=True)
class StyleCalibration:
    """Where calibration put one name: the best target, its strength, the change it makes and how far that is.

    photo_distance: when the one target stays out of tolerance, how close each scene gets on average when the search
    goes on on that scene alone, as the pipeline does for each photo (``fit_style_to_photo``); None when not needed.
    """

    name: str
    z_dyn: tuple[float, float, float]
    strength: float
    change: tuple[float, float, float, float]  # measured, in LOOK_KEYS order
    distance: float
    tolerance: float
    photo_distance: float | None = None

    @property
    def reachable(self) -> bool:
        return min(self.distance, math.inf if self.photo_distance is None else self.photo_distance) <= self.tolerance

    def entry(self) -> StyleEntry:
        measured = dict(zip(LOOK_KEYS, self.change, strict=True))
        return StyleEntry(self.z_dyn, self.strength, self.reachable, measured, self.distance, self.photo_distance)


def generator_style_samples(
    generator: torch.nn.Module,
    dynamics: torch.nn.Module,
    samples: int = 8,
    seed: int = 0,
    truncation: float = 0.7,
    batch_size: int = 64,
) -> StyleSamples:
    """Random scenes styled the way the pipeline styles a photo's W+: network A on the style levels.

    ``samples`` scenes (fixed by ``seed``, truncated as for display) stand in for photos; every target moves all of
    them, with the same noise maps. They are the daylit ones: the brightest skies among ``DAYLIGHT_POOL`` times as
    many random scenes. The promised changes are measured from a photo's own look, and the photos people animate are
    mostly taken by day; in a model whose z_dyn carries the time of day, a random scene may already be at night,
    where "deep_night" has nothing left to darken.
    """
    random = torch.Generator().manual_seed(seed)
    pool = samples * DAYLIGHT_POOL
    z = torch.randn(pool, generator.config.z_dim, generator=random)
    static, dynamic = generator.make_noise(pool, generator=random)
    with torch.no_grad():
        w_plus = generator.broadcast_w(generator.truncate(generator.map(z.to(generator.device)), truncation)).clone()
        unstyled = torch.cat(
            [
                generator.synthesize(w_plus[i : i + batch_size], *_noise_rows(static, dynamic, i, batch_size)).cpu()
                for i in range(0, pool, batch_size)
            ]
        )
    sky, _ = sky_and_land_lab(unstyled)
    daylit = sky[:, 0].argsort(descending=True)[:samples]
    w_plus, unstyled = w_plus[daylit.to(w_plus.device)], unstyled[daylit]
    static, dynamic = ([level[daylit.to(level.device)] for level in maps] for maps in (static, dynamic))
    return StyleSamples(unstyled, styled_renderer(generator, dynamics, w_plus, static, dynamic, batch_size))


def photo_style_samples(
    generator: torch.nn.Module,
    dynamics: torch.nn.Module,
    w_plus: torch.Tensor,
    static_noise: Sequence[torch.Tensor],
    dynamic_noise: Sequence[torch.Tensor],
) -> StyleSamples:
    """One photo as its own calibration sample: its reconstruction (W+ (1, num_ws, w_dim) and noise maps of its
    inversion, in the inversion's generator) and the same styled by network A."""
    with torch.no_grad():
        unstyled = generator.synthesize(w_plus, list(static_noise), list(dynamic_noise)).cpu()
    return StyleSamples(unstyled, styled_renderer(generator, dynamics, w_plus, static_noise, dynamic_noise))


def styled_renderer(
    generator: torch.nn.Module,
    dynamics: torch.nn.Module,
    w_plus: torch.Tensor,
    static_noise: Sequence[torch.Tensor],
    dynamic_noise: Sequence[torch.Tensor],
    batch_size: int = 64,
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``render(targets (K, 3), strengths (K,))`` -> (K, N, 3, H, W): the N scenes of ``w_plus`` (N, num_ws, w_dim)
    with their noise maps, each moved toward every target by network A on the style levels, as the pipeline does."""
    samples = w_plus.shape[0]
    indices = style_level_indices(generator.num_levels)
    per_batch = max(1, batch_size // samples)  # targets per generator call, each with all samples

    @torch.no_grad()
    def render(targets: torch.Tensor, strengths: torch.Tensor) -> torch.Tensor:
        images = []
        for start in range(0, targets.shape[0], per_batch):
            target = targets[start : start + per_batch].to(w_plus)
            strength = strengths[start : start + per_batch].to(w_plus)
            count = target.shape[0]
            moved = w_plus.unsqueeze(0).repeat(count, 1, 1, 1)  # (k, N, num_ws, w_dim)
            style_w = moved[:, :, indices]
            moved[:, :, indices] = dynamics(
                style_w,
                target[:, None, None, :].expand(*style_w.shape[:-1], -1),
                strength[:, None, None].expand(style_w.shape[:-1]),
            )
            noise = [[level.repeat(count, 1, 1, 1) for level in maps] for maps in (static_noise, dynamic_noise)]
            batch = generator.synthesize(moved.flatten(0, 1), noise[0], noise[1]).cpu()
            images.append(batch.view(count, samples, *batch.shape[1:]))
        return torch.cat(images)

    return render


def _noise_rows(
    static: Sequence[torch.Tensor], dynamic: Sequence[torch.Tensor], start: int, count: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    return [level[start : start + count] for level in static], [level[start : start + count] for level in dynamic]


def _changes(samples: StyleSamples, targets: torch.Tensor, strengths: torch.Tensor) -> torch.Tensor:
    """Per target, per scene: how the style changed the scene's look, (K, N, 4)."""
    base_sky, base_land = sky_and_land_lab(samples.unstyled)  # (N, 3)
    sky, land = sky_and_land_lab(samples.render(targets, strengths))  # (K, N, 3)
    return look_change(sky, land, base_sky, base_land)


def _candidate_targets() -> torch.Tensor:
    grid = torch.cartesian_prod(*(torch.tensor(_GRID_VALUES),) * DYNAMIC_STYLE_SIZE)
    return _limit_norm(torch.cat([torch.tensor(list(STYLE_TARGETS.values())), grid]).float())


def _limit_norm(targets: torch.Tensor) -> torch.Tensor:
    norm = targets.norm(dim=-1, keepdim=True)
    return targets * (_MAX_TARGET_NORM / norm.clamp_min(_MAX_TARGET_NORM))


def calibrate_styles(
    samples: StyleSamples,
    default_strength: float,
    changes: Mapping[str, ColourChange] | None = None,
) -> dict[str, StyleCalibration]:
    """Find each name's z_dyn target and strength: the one whose styled samples change most as the name promises.

    All on the same samples: every candidate target (the authors' and a grid over z_dyn) at ``default_strength``;
    the three best per name at several strengths; then a local search from the best (one step up and down each
    z_dyn axis and the strength, moving while it improves, halving the step when it does not). Distances are
    averaged over the samples (``ColourChange.distance``). A name whose best target stays farther than its tolerance
    is searched on from there on each sample alone, as the pipeline searches on each photo; it is reachable when
    those searches end within its tolerance on average (``StyleCalibration.photo_distance``), else unreachable.
    """
    changes = dict(COLOUR_CHANGES if changes is None else changes)
    candidates = _candidate_targets()
    first = _changes(samples, candidates, torch.full((len(candidates),), float(default_strength)))
    results = {}
    for name, promise in changes.items():
        result = _calibrate_one(samples, name, promise, candidates, first)
        if not result.reachable:
            fits = [
                fit_style_to_photo(samples.one(i), name, result.z_dyn, result.strength, promise)
                for i in range(len(samples))
            ]
            result = replace(result, photo_distance=sum(fit.distance for fit in fits) / len(fits))
        results[name] = result
    return results


def _calibrate_one(
    samples: StyleSamples, name: str, promise: ColourChange, candidates: torch.Tensor, first: torch.Tensor
) -> StyleCalibration:
    best = promise.distance(first).mean(-1).argsort()[:3]
    trial_z = candidates[best].repeat_interleave(len(_STRENGTHS), dim=0)
    trial_t = torch.tensor(_STRENGTHS).repeat(len(best))
    trial = _changes(samples, trial_z, trial_t)
    distances = promise.distance(trial).mean(-1)
    # a larger t with a nearer target can do what a smaller t with a farther one does, a ridge that a search along
    # the axes climbs slowly: search from the two best starts of different strength and keep the better end
    starts, strengths_seen = [], set()
    for index in distances.argsort().tolist():
        if float(trial_t[index]) not in strengths_seen:
            strengths_seen.add(float(trial_t[index]))
            starts.append(index)
        if len(starts) == 2:
            break

    def score(change: torch.Tensor) -> torch.Tensor:
        return promise.distance(change).mean(-1)

    ends = [_local_search(samples, score, trial_z[i], float(trial_t[i]), trial[i], float(distances[i])) for i in starts]
    return _calibration(name, promise, *min(ends, key=lambda end: end[3]))


def fit_style_to_photo(
    samples: StyleSamples, name: str, z_dyn: Sequence[float], strength: float, promise: ColourChange | None = None
) -> StyleCalibration:
    """The target and strength that change one photo's look most as ``name`` promises, searched from the model's.

    A model's calibration finds one target per name on random daylit scenes; how far network A then moves a photo
    depends on where the photo starts (a blue sky gains more yellow on the way to a sunset than a pale one). So the
    search continues on the photo's own reconstruction (``photo_style_samples``), from the model's target and
    strength, and keeps them unless a step does better. The lightness ratios count by the photo's own L*: near-black
    land whose L* goes from 3 to 6 changed by 3 L*, not by a ratio of 2.
    """
    promise = COLOUR_CHANGES[name] if promise is None else promise
    sky, land = sky_and_land_lab(samples.unstyled)
    lightness = torch.stack([sky[..., 0], land[..., 0]], -1)  # (N, 2)

    def score(change: torch.Tensor) -> torch.Tensor:
        return promise.distance(change, lightness).mean(-1)

    z = torch.tensor([float(v) for v in z_dyn])
    change = _changes(samples, z[None], torch.tensor([float(strength)]))[0]
    return _calibration(name, promise, *_local_search(samples, score, z, float(strength), change, float(score(change))))


def _calibration(
    name: str, promise: ColourChange, z: torch.Tensor, t: float, change: torch.Tensor, distance: float
) -> StyleCalibration:
    return StyleCalibration(
        name=name,
        z_dyn=tuple(round(float(v), 4) for v in z),  # type: ignore[arg-type]
        strength=round(t, 4),
        change=tuple(float(v) for v in change.mean(0)),  # type: ignore[arg-type]
        distance=distance,
        tolerance=promise.tolerance,
    )


def _local_search(
    samples: StyleSamples,
    score: Callable[[torch.Tensor], torch.Tensor],
    z: torch.Tensor,
    t: float,
    change: torch.Tensor,
    distance: float,
) -> tuple[torch.Tensor, float, torch.Tensor, float]:
    """Steps up and down each z_dyn axis, the strength, and both together; move while it improves, else halve."""
    step = _SEARCH_STEP
    axes = torch.cat([torch.eye(DYNAMIC_STYLE_SIZE), -torch.eye(DYNAMIC_STYLE_SIZE)])
    for _ in range(_SEARCH_ROUNDS):
        # along each axis, the strength alone, and along the ridge (a farther target at a smaller strength)
        ridge = 1 + step / 2
        near_z = torch.cat(
            [_limit_norm(z + step * axes), z.expand(2, -1), _limit_norm(torch.stack([z * ridge, z / ridge]))]
        )
        near_t = [t] * len(axes) + [t + step / 5, t - step / 5, t / ridge, t * ridge]
        near_t = torch.tensor(near_t).clamp(0.05, 1.0)
        near = _changes(samples, near_z, near_t)
        near_distances = score(near)
        pick = int(near_distances.argmin())
        if float(near_distances[pick]) < distance:
            z, t, change, distance = near_z[pick], float(near_t[pick]), near[pick], float(near_distances[pick])
        else:
            step /= 2
            if step < _SEARCH_MIN_STEP:
                break
    return z, t, change, distance


def calibrated_vocabulary(calibrations: Mapping[str, StyleCalibration]) -> StyleVocabulary:
    """The vocabulary to store in a model's pipeline.json."""
    return StyleVocabulary({name: result.entry() for name, result in calibrations.items()}, source="calibrated")
