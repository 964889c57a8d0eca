"""Evaluation metrics of DeepLandscape (supplement Tables 1-3): SSIM/LPIPS, FID/FVD, amount of motion, reports.

- ``image``: SSIM with the authors' protocol, masked SSIM, LPIPS-VGG (inputs correctly in [-1, 1]).
- ``distribution``: Frechet distance, FID (Inception pool3), FVD (I3D TorchScript or a labelled R(2+1)D stand-in).
- ``flow``: optical flow (Farneback / DIS / cached RAFT) and the authors' ``flow_l2`` motion amount.
- ``noise_use``: how much a trained generator's images follow each noise level and latent (a diagnostic).
- ``report``: ``evaluate_animation`` for one video and the Table 2 (inversion ablation) layout.

Pretrained feature networks come only from local files (torch hub cache or a given path); a missing one raises
:class:`MissingWeightsError` naming the file. Every network-based metric accepts an injected extractor.
"""

from ._common import MissingWeightsError, resize_center_crop, to_mask, to_unit_images, to_unit_video
from .distribution import (
    FeatureStatistics,
    FrechetResult,
    I3DTorchScript,
    InceptionPool3,
    R2Plus1DFeatures,
    compute_statistics,
    compute_video_statistics,
    fid,
    fid_over_time,
    frechet_distance,
    fvd,
)
from .flow import (
    VideoFlow,
    flow_between,
    masked_flow_l2,
    motion_amount,
    motion_in_regions,
    normalise_flow,
    raft_weights_available,
    resolve_flow_method,
    video_flow,
)
from .image import LPIPSMetric, load_lpips, masked_lpips, masked_ssim, ssim, ssim_map
from .noise_use import NoiseSensitivity, noise_sensitivity
from .report import (
    PAPER_TABLE2,
    TABLE2_COLUMNS,
    evaluate_animation,
    format_markdown_table,
    inversion_table_rows,
    write_csv,
)

__all__ = [
    "MissingWeightsError",
    "resize_center_crop",
    "to_mask",
    "to_unit_images",
    "to_unit_video",
    "FeatureStatistics",
    "FrechetResult",
    "I3DTorchScript",
    "InceptionPool3",
    "R2Plus1DFeatures",
    "compute_statistics",
    "compute_video_statistics",
    "fid",
    "fid_over_time",
    "frechet_distance",
    "fvd",
    "VideoFlow",
    "flow_between",
    "masked_flow_l2",
    "motion_amount",
    "motion_in_regions",
    "normalise_flow",
    "raft_weights_available",
    "resolve_flow_method",
    "video_flow",
    "LPIPSMetric",
    "load_lpips",
    "masked_lpips",
    "masked_ssim",
    "ssim",
    "ssim_map",
    "NoiseSensitivity",
    "noise_sensitivity",
    "PAPER_TABLE2",
    "TABLE2_COLUMNS",
    "evaluate_animation",
    "format_markdown_table",
    "inversion_table_rows",
    "write_csv",
]
