"""The seam figure of scripts/measure_styles.py: a pasted square shows, a moved edge away from the square does not
count at the square's border."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "measure_styles.py"


@pytest.fixture(scope="module")
def measure_styles():
    spec = importlib.util.spec_from_file_location("measure_styles", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seam_figure_sees_a_pasted_square_and_the_border_figure_only_there(measure_styles):
    rng = np.random.default_rng(0)
    photo = np.clip(120 + rng.normal(0, 3, size=(64, 96, 3)), 0, 255).astype(np.uint8)
    pasted = photo.copy()
    pasted[:, 40:] = np.clip(pasted[:, 40:].astype(int) + 30, 0, 255)  # a lighter panel from column 40 on
    moved = photo.copy()
    moved[:, 10:12] = 250  # an edge that moved into columns 10-11, far from the square
    border = ([40], [])
    assert measure_styles.seam_levels(pasted, photo) > 20
    assert measure_styles.seam_levels(pasted, photo, near=border) > 20
    assert measure_styles.seam_levels(moved, photo) > 20
    assert measure_styles.seam_levels(moved, photo, near=border) < 1
    assert measure_styles.seam_levels(photo, photo, near=([], [])) == 0
