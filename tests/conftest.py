import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))

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
