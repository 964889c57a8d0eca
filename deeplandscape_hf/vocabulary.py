"""Names users type on the command line: time-of-day styles, motion presets, precisions. Imports nothing.

They live here, not only in ``styles.py`` / ``motion.py``, because those import torch (about 1.5 s) and
``deeplandscape --help`` lists these names; one definition keeps the CLI, the library and the procedural data in step
(tests check that ``styles.STYLE_TARGETS`` and the motion CSVs match).
"""

from __future__ import annotations

__all__ = [
    "DTYPE_CHOICES",
    "MOTION_PRESET_NAMES",
    "PAPER_MOTION_NAMES",
    "STYLE_NAMES",
    "STYLE_PATH_NAMES",
    "TIME_OF_DAY_NAMES",
]

# The official style_eoifs.yaml vocabulary (names are ours), in the order of the `day_cycle` path.
TIME_OF_DAY_NAMES: tuple[str, ...] = (
    "blue_day",
    "bright_day",
    "bright_evening",
    "light_sunset",
    "warm_sunset",
    "blue_hour",
    "deep_night",
    "blue_morning",
)
STYLE_PATH_NAMES: tuple[str, ...] = ("day_cycle",)  # keyframe paths over the named styles
STYLE_NAMES: tuple[str, ...] = (*TIME_OF_DAY_NAMES, *STYLE_PATH_NAMES)

PAPER_MOTION_NAMES: tuple[str, ...] = tuple(f"m{index:02d}" for index in range(1, 13))  # the paper's m01..m12
# ... then the authors' selected man1..man5: the order of motion.MOTION_PRESETS (sorted CSV names, '1' < 'a')
MOTION_PRESET_NAMES: tuple[str, ...] = (*PAPER_MOTION_NAMES, *(f"man{index}" for index in range(1, 6)))

# Precision of rendering (deeplandscape_hf.precision explains what auto picks).
DTYPE_CHOICES: tuple[str, ...] = ("auto", "float32", "bfloat16")
