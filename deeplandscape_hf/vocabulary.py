"""Names users type on the command line: time-of-day styles, motion presets, precisions. Imports nothing.

They live here, not only in ``styles.py`` / ``motion.py``, because those import torch (about 1.5 s) and
``deeplandscape --help`` lists these names; one definition keeps the CLI, the library and the procedural data in step
(tests check that ``styles.STYLE_TARGETS`` and the motion CSVs match).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DTYPE_CHOICES",
    "MOTION_PRESET_NAMES",
    "PAPER_MOTION_NAMES",
    "STYLE_NAMES",
    "STYLE_PATH_NAMES",
    "TIME_OF_DAY_NAMES",
    "bundled_model_styles",
    "offered_styles",
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

# Precision of rendering (deeplandscape_hf.networks.precision explains what auto picks).
DTYPE_CHOICES: tuple[str, ...] = ("auto", "float32", "bfloat16")

# The bundled model's folder (hub.DEFAULT_MODEL_DIR, which imports torch).
_BUNDLED_PIPELINE_JSON = Path(__file__).resolve().parent / "default_model" / "pipeline.json"


def offered_styles(styles: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The names a model offers for ``style=``, from its pipeline.json ``styles`` object (None: the authors' vocabulary,
    every name): its reachable styles in day-cycle order, then ``day_cycle`` when two or more of them are reachable."""
    if not styles:
        return STYLE_NAMES
    names = styles.get("names", {})
    reachable = tuple(name for name, entry in names.items() if entry.get("reachable", True))
    in_cycle = [name for name in reachable if name in TIME_OF_DAY_NAMES]
    return (*reachable, *(STYLE_PATH_NAMES if len(in_cycle) >= 2 else ()))


def bundled_model_styles() -> tuple[str, ...]:
    """The names the bundled default model offers (read from its pipeline.json; fast, for ``--help``)."""
    try:
        return offered_styles(json.loads(_BUNDLED_PIPELINE_JSON.read_text()).get("styles"))
    except (OSError, ValueError, AttributeError):  # a checkout without the bundled model: the full vocabulary
        return STYLE_NAMES
