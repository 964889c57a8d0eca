import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
# Tiny test models gain nothing from threads, and subprocesses (app server, accelerate) would oversubscribe the cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_PHOTOS = REPO_ROOT.parent / "shared" / "data" / "landscapes"
BUNDLED_PHOTOS = REPO_ROOT / "examples"


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="session")
def landscape_photos() -> list[Path]:
    """Real landscape photos: the repo's examples, else shared/ beside the checkout."""
    for folder in (BUNDLED_PHOTOS, SHARED_PHOTOS):
        photos = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
        if photos:
            return photos
    pytest.skip("no landscape photos found")


@pytest.fixture(scope="session")
def tiny_app_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random model folder (G, encoder/, dynamics/, pipeline.json) for the app tests (tests/app_helpers.py)."""
    from app_helpers import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_app_model"))
