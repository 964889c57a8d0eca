"""Measuring results: the metric arithmetic and the protocols that decide what is compared with what.

- ``metrics``: SSIM/LPIPS, FID/FVD, optical-flow motion, noise sensitivity, report tables (the arithmetic only);
- ``files``: finding, pairing and reading videos, photos and masks, with errors that name the files;
- ``animated``: animated videos against their photos (reconstruction, static consistency, motion);
- ``inversion_sweep``: the inversion sweep of supplement Table 2;
- ``generated``: generators against real videos, FID / FVD (Tables 1 and 3);
- ``results``: the ``EvaluationResult`` table every protocol returns.

These protocols are what ``deeplandscape evaluate`` runs; their public names are re-exported here. May import
``animation``, ``networks``, ``motion`` and ``vocabulary``; never training or conversion.
"""

from .animated import (
    ANIMATION_COLUMNS,
    AnimationItem,
    describe_flow,
    evaluate_animation_files,
    pair_animation_files,
    resolve_lpips,
    resolve_mask_fn,
)
from .files import (
    PHOTO_SUFFIXES,
    VIDEO_SUFFIXES,
    find_masks,
    find_photos,
    find_videos,
    fit_to_size,
    match_videos_to_photos,
)
from .generated import (
    BALANCE_COLUMNS,
    VideoSample,
    collect_video_samples,
    evaluate_generators,
    generated_static_and_motion,
    generated_video_samples,
    make_video_sample,
)
from .inversion_sweep import AnimationSample, pipeline_animate_fn, run_inversion_sweep, sort_variants
from .results import EvaluationInputError, EvaluationResult

__all__ = [
    "ANIMATION_COLUMNS",
    "BALANCE_COLUMNS",
    "PHOTO_SUFFIXES",
    "VIDEO_SUFFIXES",
    "AnimationItem",
    "AnimationSample",
    "EvaluationInputError",
    "EvaluationResult",
    "VideoSample",
    "collect_video_samples",
    "describe_flow",
    "evaluate_animation_files",
    "evaluate_generators",
    "find_masks",
    "find_photos",
    "find_videos",
    "fit_to_size",
    "generated_static_and_motion",
    "generated_video_samples",
    "make_video_sample",
    "match_videos_to_photos",
    "pair_animation_files",
    "pipeline_animate_fn",
    "resolve_lpips",
    "resolve_mask_fn",
    "run_inversion_sweep",
    "sort_variants",
]
