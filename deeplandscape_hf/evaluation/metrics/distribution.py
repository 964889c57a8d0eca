"""Distribution metrics: FID on frames and FVD on clips, both the Frechet distance between Gaussian fits of features.

Frechet distance between N(mu1, S1) and N(mu2, S2):  |mu1 - mu2|² + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

Feature extractors are injectable: any ``nn.Module`` (or callable) mapping float images ``(N, 3, H, W)`` in [0, 1]
(FID) or clips ``(N, 3, T, H, W)`` in [0, 1] (FVD) to ``(N, D)``. The defaults, and what their numbers mean:

- FID: Inception-V3 pool3 (2048-d). By default torchvision's ``Inception_V3_Weights.IMAGENET1K_V1``, which are *not*
  the TF-2015 weights of pytorch-fid / the paper, so values are comparable only with each other. Passing the
  pytorch-fid file ``pt_inception-2015-12-05-*.pth`` (``inception_weights=path``) loads those weights and the TF
  graph's pooling quirks (see :class:`InceptionPool3`), the configuration behind published FIDs (parity with
  pytorch-fid not verified here: the file is not available offline).
- FVD: the standard FVD uses I3D trained on Kinetics-400, which torchvision lacks. ``i3d_path=`` loads the common
  TorchScript I3D (StyleGAN-V convention); otherwise R(2+1)D-18 (torchvision ``KINETICS400_V1``) penultimate
  features are used and the result is labelled "FVD (R(2+1)D-18 features)": not comparable to I3D-based FVD.

Protocol differences from the authors' code (official ``calc_metrics_video.py`` with pytorch-fid): they dropped the
images beyond a multiple of the batch size (69); every image counts here. Images are resized (shorter side, bilinear,
antialiased) and center-cropped to ``resolution`` (256, as theirs) before the extractor.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

from ._common import (
    UNIT_RANGE,
    MissingWeightsError,
    ValueRange,
    default_device,
    require_hub_checkpoint,
    resize_center_crop,
    to_unit_images,
    to_unit_video,
)

FeatureExtractor = Callable[[torch.Tensor], torch.Tensor]

FID_RESOLUTION = 256
FVD_NUM_FRAMES = 16


# ------------------------------------------------------------------------------------------------------ Frechet math


@dataclass
class FeatureStatistics:
    """Gaussian fit of a feature set: mean ``(D,)``, covariance ``(D, D)`` and the number of samples."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int

    @property
    def feature_dim(self) -> int:
        return int(self.mu.shape[0])

    def save(self, path: str | Path) -> None:
        """Store as ``.npz`` so the statistics of a real set are computed once and reused."""
        np.savez(path, mu=self.mu, sigma=self.sigma, count=self.count)

    @classmethod
    def load(cls, path: str | Path) -> FeatureStatistics:
        with np.load(path) as data:
            return cls(mu=data["mu"], sigma=data["sigma"], count=int(data["count"]))

    @classmethod
    def from_features(cls, features: np.ndarray) -> FeatureStatistics:
        """Mean and unbiased covariance of ``(N, D)`` features, in float64 (needs N >= 2)."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[0] < 2:
            raise ValueError(f"need at least 2 feature vectors (N, D), got shape {features.shape}")
        return cls(
            mu=features.mean(axis=0),
            sigma=np.cov(features, rowvar=False).reshape(features.shape[1], -1),
            count=features.shape[0],
        )


def _sqrtm_product(s1: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, float]:
    """sqrtm(s1 @ s2) and its relative residual |X² - s1 s2|_F / |s1 s2|_F (scipy may be silent when it fails)."""
    product = s1 @ s2
    with warnings.catch_warnings():  # singular products warn; the residual check below decides instead
        warnings.simplefilter("ignore")
        root = scipy.linalg.sqrtm(product)
    if not np.all(np.isfinite(root)):
        return root, float("inf")
    scale = max(np.linalg.norm(product), 1e-30)
    return root, float(np.linalg.norm(root @ root - product) / scale)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2): |mu1 - mu2|² + Tr(S1 + S2 - 2 sqrt(S1 S2)).

    With fewer samples than feature dimensions the covariances are singular and ``sqrtm(S1 S2)`` can be inaccurate or
    non-finite; then ``eps`` is added to both diagonals and the root is recomputed. The product of two PSD matrices has
    a real square root, so an imaginary part is numerical noise and is dropped (with a warning when it is large).
    Tiny negative results (round-off when the sets are identical) are clipped to 0.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.shape[0],) * 2:
        raise ValueError(f"shape mismatch: mu {mu1.shape}/{mu2.shape}, sigma {s1.shape}/{s2.shape}")
    root, residual = _sqrtm_product(s1, s2)
    if residual > 1e-3:
        offset = np.eye(s1.shape[0]) * eps
        root, residual = _sqrtm_product(s1 + offset, s2 + offset)
        if not np.all(np.isfinite(root)):
            raise FloatingPointError("sqrtm(S1 S2) is not finite even after regularising the covariances")
    if np.iscomplexobj(root):
        largest = np.max(np.abs(root.imag))
        if largest > 1e-3 * max(1.0, np.max(np.abs(root.real))):
            warnings.warn(f"sqrtm(S1 S2) has an imaginary part up to {largest:.3g}; using its real part", stacklevel=2)
        root = root.real
    diff = mu1 - mu2
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(root)
    return float(max(value, 0.0))


@dataclass
class FrechetResult:
    """A Frechet-distance metric value with the protocol that produced it (so reports cannot drop the caveats)."""

    value: float
    metric: str  # e.g. "FID", "FVD (R(2+1)D-18 features)"
    extractor: str
    count_a: int
    count_b: int
    feature_dim: int
    resolution: int | None
    num_frames: int | None = None
    notes: list[str] = field(default_factory=list)

    def __float__(self) -> float:
        return self.value

    def describe(self) -> str:
        """One line: value, counts, resolution and caveats, for logs and report footers."""
        size = f", {self.resolution}px" if self.resolution else ""
        frames = f", {self.num_frames} frames" if self.num_frames else ""
        notes = f" [{'; '.join(self.notes)}]" if self.notes else ""
        return (
            f"{self.metric} = {self.value:.3f} ({self.count_a} vs {self.count_b} samples{size}{frames}, "
            f"{self.feature_dim}-d {self.extractor} features){notes}"
        )


def _extractor_name(extractor: Any) -> str:
    return getattr(extractor, "name", type(extractor).__name__)


@torch.no_grad()
def _run_extractor(extractor: FeatureExtractor, batch: torch.Tensor) -> np.ndarray:
    device = default_device(extractor if isinstance(extractor, nn.Module) else None)
    features = extractor(batch.to(device))
    if features.dim() != 2 or features.shape[0] != batch.shape[0]:
        raise ValueError(f"feature extractor must return (N, D), got {tuple(features.shape)} for N={batch.shape[0]}")
    return features.double().cpu().numpy()


def _batched(items: Iterable[torch.Tensor], batch_size: int) -> Iterable[torch.Tensor]:
    """Re-chunk a stream of ``(n_i, ...)`` tensors into ``(batch_size, ...)`` batches (the last may be shorter)."""
    pending: list[torch.Tensor] = []
    count = 0
    for item in items:
        pending.append(item)
        count += item.shape[0]
        while count >= batch_size:
            merged = torch.cat(pending)
            yield merged[:batch_size]
            rest = merged[batch_size:]
            pending, count = ([rest], rest.shape[0]) if rest.shape[0] else ([], 0)
    if pending:
        yield torch.cat(pending)


def _check_same_size(batch_shapes: set, what: str) -> None:
    if len(batch_shapes) > 1:
        raise ValueError(f"{what} have different sizes {sorted(batch_shapes)}: pass resolution= to resize them")


def compute_statistics(
    images: Iterable[Any],
    extractor: FeatureExtractor,
    batch_size: int = 50,
    *,
    resolution: int | None = FID_RESOLUTION,
    value_range: ValueRange = UNIT_RANGE,
) -> FeatureStatistics:
    """Features of every image -> :class:`FeatureStatistics`.

    Args:
        images: an iterable of images or batches (tensors ``(3, H, W)`` / ``(N, 3, H, W)``, uint8 arrays
            ``(H, W, 3)``, PIL images); streamed, so a generator over files keeps memory flat.
        extractor: ``(N, 3, H, W)`` in [0, 1] -> ``(N, D)``; put it on the device you want before calling.
        resolution: shorter-side resize + center crop to this size first (the authors' 256); ``None`` keeps sizes,
            which must then agree.
    """
    if isinstance(extractor, nn.Module):
        extractor.eval()
    shapes: set[tuple[int, int]] = set()

    def prepared() -> Iterable[torch.Tensor]:
        for image in images:
            batch = to_unit_images(image, value_range)
            if resolution is not None:
                batch = resize_center_crop(batch, resolution)
            shapes.add(tuple(batch.shape[-2:]))
            _check_same_size(shapes, "images")
            yield batch

    features = [_run_extractor(extractor, batch) for batch in _batched(prepared(), batch_size)]
    if not features:
        raise ValueError("no images given")
    return FeatureStatistics.from_features(np.concatenate(features))


# ---------------------------------------------------------------------------------------------------- Inception / FID


def _inception_a_tf(block: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """torchvision InceptionA with the TF graph's average pool, which excludes the zero padding from the mean."""
    pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
    return [
        block.branch1x1(x),
        block.branch5x5_2(block.branch5x5_1(x)),
        block.branch3x3dbl_3(block.branch3x3dbl_2(block.branch3x3dbl_1(x))),
        block.branch_pool(pooled),
    ]


def _inception_c_tf(block: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """torchvision InceptionC (factorised 7x7 branches) with the padding-excluding TF average pool."""
    pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
    seven = block.branch7x7_3(block.branch7x7_2(block.branch7x7_1(x)))
    double = x
    for name in ("branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5"):
        double = getattr(block, name)(double)
    return [block.branch1x1(x), seven, double, block.branch_pool(pooled)]


def _inception_e_tf(block: nn.Module, x: torch.Tensor, max_pool: bool) -> list[torch.Tensor]:
    """torchvision InceptionE as in the TF graph: padding-excluding average pool in Mixed_7b, max pool in Mixed_7c."""
    if max_pool:
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
    else:
        pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
    three = block.branch3x3_1(x)
    three = torch.cat([block.branch3x3_2a(three), block.branch3x3_2b(three)], 1)
    double = block.branch3x3dbl_2(block.branch3x3dbl_1(x))
    double = torch.cat([block.branch3x3dbl_3a(double), block.branch3x3dbl_3b(double)], 1)
    return [block.branch1x1(x), three, double, block.branch_pool(pooled)]


_INCEPTION_TRUNK = (
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "maxpool1",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "maxpool2",
    "Mixed_5b",
    "Mixed_5c",
    "Mixed_5d",
    "Mixed_6a",
    "Mixed_6b",
    "Mixed_6c",
    "Mixed_6d",
    "Mixed_6e",
    "Mixed_7a",
    "Mixed_7b",
    "Mixed_7c",
    "avgpool",
)
_TF_BLOCKS: dict[str, Callable[[nn.Module, torch.Tensor], list[torch.Tensor]]] = {
    **{name: _inception_a_tf for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d")},
    **{name: _inception_c_tf for name in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e")},
    "Mixed_7b": lambda block, x: _inception_e_tf(block, x, max_pool=False),
    "Mixed_7c": lambda block, x: _inception_e_tf(block, x, max_pool=True),
}


class InceptionPool3(nn.Module):
    """Inception-V3 pool3 features (2048-d) of ``(N, 3, H, W)`` images in [0, 1], the FID feature space.

    Images are resized to 299x299 (bilinear) and mapped to [-1, 1], the input both weight sets were trained on
    (torchvision's ``transform_input`` does the same from ImageNet-normalised input). Two weight sources:

    - default: torchvision ``Inception_V3_Weights.IMAGENET1K_V1`` from the torch hub cache
      (``inception_v3_google-0cc3c7bd.pth``); FIDs are self-consistent but differ from published ones;
    - ``weights_path``: the pytorch-fid state dict ``pt_inception-2015-12-05-6726825d.pth`` (1008 classes), run with
      the TF graph's pooling (padding-excluding average pools, a max pool in the last block): the published-FID setup.

    Missing files raise :class:`MissingWeightsError`; nothing is downloaded.
    """

    def __init__(self, weights_path: str | Path | None = None):
        super().__init__()
        from torchvision.models import Inception_V3_Weights, inception_v3
        from torchvision.models.inception import Inception3

        if weights_path is None:
            weights = Inception_V3_Weights.IMAGENET1K_V1
            require_hub_checkpoint(weights.url, "FID (torchvision Inception-V3)")
            self.model = inception_v3(weights=weights, progress=False)
            self.tf_compatible = False
            self.name = "inception-v3 (torchvision IMAGENET1K_V1)"
        else:
            path = Path(weights_path)
            if not path.is_file():
                raise MissingWeightsError(
                    f"FID Inception weights not found at '{path}' (expected the pytorch-fid "
                    "file pt_inception-2015-12-05-6726825d.pth)"
                )
            self.model = Inception3(num_classes=1008, aux_logits=False, transform_input=False, init_weights=False)
            self.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
            self.tf_compatible = True
            self.name = f"inception-v3 ({path.name}, TF pooling)"
        self.model.eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
        for name in _INCEPTION_TRUNK:
            block = getattr(self.model, name)
            x = torch.cat(_TF_BLOCKS[name](block, x), 1) if self.tf_compatible and name in _TF_BLOCKS else block(x)
        return torch.flatten(x, 1)


def fid(
    images_a: Iterable[Any],
    images_b: Iterable[Any] | FeatureStatistics,
    extractor: FeatureExtractor | None = None,
    *,
    batch_size: int = 50,
    resolution: int | None = FID_RESOLUTION,
    value_range: ValueRange = UNIT_RANGE,
    inception_weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    verbose: bool = False,
) -> FrechetResult:
    """FID between two image sets (``images_b`` may be precomputed :class:`FeatureStatistics` of the real set).

    ``extractor=None`` builds :class:`InceptionPool3` (``inception_weights`` = optional pytorch-fid file). The result
    records counts, resolution, feature space and caveats; ``verbose`` prints :meth:`FrechetResult.describe`.
    """
    if extractor is None:
        extractor = InceptionPool3(inception_weights).to(device)
    notes = []
    if isinstance(extractor, InceptionPool3) and not extractor.tf_compatible:
        notes.append("torchvision Inception weights: not comparable to pytorch-fid/TF FID values")
    stats_a = compute_statistics(images_a, extractor, batch_size, resolution=resolution, value_range=value_range)
    if isinstance(images_b, FeatureStatistics):
        stats_b = images_b
    else:
        stats_b = compute_statistics(images_b, extractor, batch_size, resolution=resolution, value_range=value_range)
    if min(stats_a.count, stats_b.count) < stats_a.feature_dim:
        notes.append(f"fewer samples than feature dims ({stats_a.feature_dim}): covariance is singular, FID biased up")
    result = FrechetResult(
        value=frechet_distance(stats_a.mu, stats_a.sigma, stats_b.mu, stats_b.sigma),
        metric="FID",
        extractor=_extractor_name(extractor),
        count_a=stats_a.count,
        count_b=stats_b.count,
        feature_dim=stats_a.feature_dim,
        resolution=resolution,
        notes=notes,
    )
    if verbose:
        print(result.describe())
    return result


def fid_over_time(
    videos: Sequence[Any],
    real_images: Iterable[Any] | FeatureStatistics,
    extractor: FeatureExtractor | None = None,
    *,
    every: int = 10,
    batch_size: int = 50,
    resolution: int | None = FID_RESOLUTION,
    value_range: ValueRange = UNIT_RANGE,
) -> dict[int, FrechetResult]:
    """FID of the set of i-th frames of all videos against the real inputs, for i = 0, every, 2*every, ...

    The authors' ``fid_{i}`` curve: how image quality drifts as an animation runs. Videos are ``(T, 3, H, W)``.
    """
    extractor = extractor if extractor is not None else InceptionPool3()
    if not isinstance(real_images, FeatureStatistics):
        real_images = compute_statistics(
            real_images, extractor, batch_size, resolution=resolution, value_range=value_range
        )
    clips = [to_unit_video(video, value_range) for video in videos]
    length = min(clip.shape[0] for clip in clips)
    return {
        i: fid([clip[i] for clip in clips], real_images, extractor, batch_size=batch_size, resolution=resolution)
        for i in range(0, length, every)
    }


# ---------------------------------------------------------------------------------------------------------------- FVD


class R2Plus1DFeatures(nn.Module):
    """Penultimate (512-d) features of torchvision's Kinetics-400 R(2+1)D-18 (or R3D-18) for clips in [0, 1].

    A stand-in for I3D, which torchvision does not ship: FVD computed with it is labelled as such and is **not**
    comparable to I3D-based FVD. Frames are resized to 112x112 (the backbone's training crop; the whole frame is kept,
    as I3D-FVD resizes without cropping) and normalised with the Kinetics mean/std.
    """

    def __init__(self, arch: str = "r2plus1d_18"):
        super().__init__()
        from torchvision.models import video

        builders = {
            "r2plus1d_18": (video.r2plus1d_18, video.R2Plus1D_18_Weights.KINETICS400_V1),
            "r3d_18": (video.r3d_18, video.R3D_18_Weights.KINETICS400_V1),
        }
        if arch not in builders:
            raise ValueError(f"arch must be one of {sorted(builders)}, got {arch!r}")
        builder, weights = builders[arch]
        require_hub_checkpoint(weights.url, f"FVD ({arch} features)")
        self.model = builder(weights=weights, progress=False)
        self.model.fc = nn.Identity()
        self.model.eval().requires_grad_(False)
        preset = weights.transforms()
        self.register_buffer("mean", torch.tensor(preset.mean).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(preset.std).view(1, 3, 1, 1, 1), persistent=False)
        self.size = tuple(preset.crop_size)
        self.name = f"{arch} (Kinetics-400)"
        self.metric = "FVD (R(2+1)D-18 features)" if arch == "r2plus1d_18" else "FVD (R3D-18 features)"

    @torch.no_grad()
    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = clips.shape
        frames = clips.transpose(1, 2).reshape(n * t, c, h, w)
        frames = F.interpolate(frames, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        clips = frames.reshape(n, t, c, *self.size).transpose(1, 2)
        return self.model((clips - self.mean) / self.std)


class I3DTorchScript(nn.Module):
    """The I3D (Kinetics-400) TorchScript feature extractor used by StyleGAN-V and later FVD code, from a local path.

    Called with that file's convention: clips ``(N, 3, T, H, W)`` scaled to 0..255 and
    ``rescale=True, resize=True, return_features=True`` (the model resizes to 224 and maps to [-1, 1] itself,
    returning 400-d pre-softmax features). The file is not bundled; this convention is not verified here offline.
    """

    name = "i3d (TorchScript, Kinetics-400)"
    metric = "FVD (I3D)"

    def __init__(self, path: str | Path):
        super().__init__()
        path = Path(path)
        if not path.is_file():
            raise MissingWeightsError(
                f"I3D TorchScript file not found at '{path}' (e.g. StyleGAN-V's i3d_torchscript.pt)"
            )
        self.model = torch.jit.load(str(path), map_location="cpu").eval()

    @torch.no_grad()
    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model(clips * 255.0, rescale=True, resize=True, return_features=True)


def compute_video_statistics(
    videos: Iterable[Any],
    extractor: FeatureExtractor,
    batch_size: int = 8,
    *,
    num_frames: int = FVD_NUM_FRAMES,
    value_range: ValueRange = UNIT_RANGE,
) -> FeatureStatistics:
    """Features of the first ``num_frames`` frames of every video (``(T, 3, H, W)`` or uint8 ``(T, H, W, 3)``).

    All clips must share a spatial size (the extractor resizes, but a batch must stack). Videos shorter than
    ``num_frames`` are an error rather than silently padded, since FVD depends on clip length.
    """
    if isinstance(extractor, nn.Module):
        extractor.eval()
    shapes: set[tuple[int, int]] = set()

    def prepared() -> Iterable[torch.Tensor]:
        for video in videos:
            clip = to_unit_video(video, value_range)
            if clip.shape[0] < num_frames:
                raise ValueError(f"video has {clip.shape[0]} frames, FVD needs num_frames={num_frames}")
            shapes.add(tuple(clip.shape[-2:]))
            _check_same_size(shapes, "videos")
            yield clip[:num_frames].transpose(0, 1).unsqueeze(0)  # (1, 3, T, H, W)

    features = [_run_extractor(extractor, batch) for batch in _batched(prepared(), batch_size)]
    if not features:
        raise ValueError("no videos given")
    return FeatureStatistics.from_features(np.concatenate(features))


def fvd(
    videos_a: Iterable[Any],
    videos_b: Iterable[Any] | FeatureStatistics,
    extractor: FeatureExtractor | None = None,
    *,
    num_frames: int = FVD_NUM_FRAMES,
    batch_size: int = 8,
    value_range: ValueRange = UNIT_RANGE,
    i3d_path: str | Path | None = None,
    device: str | torch.device = "cpu",
    verbose: bool = False,
) -> FrechetResult:
    """Frechet video distance between two sets of videos, on clips of their first ``num_frames`` (16) frames.

    Extractor: ``extractor`` if given; else the I3D TorchScript at ``i3d_path``; else R(2+1)D-18, in which case the
    metric is named "FVD (R(2+1)D-18 features)" and carries a note that it is not comparable to I3D-based FVD.
    """
    notes = []
    if extractor is None:
        extractor = (I3DTorchScript(i3d_path) if i3d_path is not None else R2Plus1DFeatures()).to(device)
    metric = getattr(extractor, "metric", "FVD (custom features)")
    if metric != "FVD (I3D)":
        notes.append("not comparable to I3D-based FVD")
    stats_a = compute_video_statistics(videos_a, extractor, batch_size, num_frames=num_frames, value_range=value_range)
    if isinstance(videos_b, FeatureStatistics):
        stats_b = videos_b
    else:
        stats_b = compute_video_statistics(
            videos_b, extractor, batch_size, num_frames=num_frames, value_range=value_range
        )
    result = FrechetResult(
        value=frechet_distance(stats_a.mu, stats_a.sigma, stats_b.mu, stats_b.sigma),
        metric=metric,
        extractor=_extractor_name(extractor),
        count_a=stats_a.count,
        count_b=stats_b.count,
        feature_dim=stats_a.feature_dim,
        resolution=None,
        num_frames=num_frames,
        notes=notes,
    )
    if verbose:
        print(result.describe())
    return result
