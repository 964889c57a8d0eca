"""Repository-wide rules that a Hugging Face Space push depends on."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HUB_MAX_FILE_BYTES = 10 * 1024 * 1024  # the Hub refuses larger files that are not stored with LFS


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs a git checkout")
def test_every_tracked_file_is_under_10_mib():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout
    files = [REPO / name for name in listed.decode().split("\0") if name]
    assert len(files) > 50  # the listing worked
    sizes = {path.relative_to(REPO).as_posix(): path.stat().st_size for path in files if path.is_file()}
    too_large = {name: f"{size / 2**20:.1f} MiB" for name, size in sizes.items() if size >= HUB_MAX_FILE_BYTES}
    assert not too_large, f"tracked files of 10 MiB or more (shard them or make them smaller): {too_large}"
