"""Writing trained networks out: hub-layout components saved atomically, ``pipeline.json``, the upload."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from torch import nn

from ..networks.hub import unwrap_model

logger = logging.getLogger(__name__)


PUSH_IGNORE = ["checkpoints/*", "checkpoints/**", "samples/**", "logs/**", "data_cache/**", ".*"]


def push_to_hub(args: argparse.Namespace, folder: Path) -> None:
    from huggingface_hub import HfApi

    api = HfApi(token=args.hub_token)
    repo_id = api.create_repo(args.hub_model_id, exist_ok=True, private=args.hub_private_repo).repo_id
    api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        ignore_patterns=PUSH_IGNORE,
        commit_message="Upload DeepLandscape model trained with train_accelerate.py",
    )
    logger.info("pushed %s to https://huggingface.co/%s", folder, repo_id)


def write_pipeline_json(folder: Path, resolution: int) -> None:
    """Minimal pipeline.json (the pipeline fills every other default); existing keys are kept."""
    path = folder / "pipeline.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data["resolution"] = int(resolution)
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True))


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_component(module: nn.Module, folder: Path) -> None:
    """save_pretrained into a temporary sibling, then move the files in: a crash never leaves half a component."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        unwrap_model(module).save_pretrained(tmp)
        folder.mkdir(exist_ok=True)
        if (folder / "README.md").is_file():
            (tmp / "README.md").unlink(missing_ok=True)  # keep a card the user edited
        for item in tmp.iterdir():
            os.replace(item, folder / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
