"""Copy a trained model folder into the package as the bundled default model (deeplandscape_hf/default_model).

    python scripts/package_default_model.py runs/default-model/model

Takes the exported files only (no checkpoints, samples, logs or data cache), stores the encoder's weights in float16
(the ResNet-18 trunk is most of the size; weights load back into the float32 model), and uses model_card.md as the
folder's README.md. Checks the bundle stays under the 60 MB the repository allows, and shards weights so that no
file reaches 10 MiB.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from deeplandscape_hf.networks.hub import save_safetensors, weight_files

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "deeplandscape_hf" / "default_model"
COMPONENTS = ("", "encoder", "dynamics", "discriminators/image", "discriminators/pairwise")
MAX_BYTES = 60 * 1024 * 1024
# The Hugging Face Hub refuses files over 10 MiB that are not stored with LFS: shard below that, header included.
MAX_FILE_BYTES = int(9.5 * 1024 * 1024)


def _shards(weights: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """One model.safetensors, or model-0000i-of-0000N shards when it would pass MAX_FILE_BYTES (repository rule)."""
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in weights.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > MAX_FILE_BYTES:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    if len(shards) == 1:
        return {"model.safetensors": shards[0]}
    return {f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors": shard for i, shard in enumerate(shards)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="folder written by train_accelerate.py (gan, encoder, dynamics)")
    args = parser.parse_args()
    staging = TARGET.with_name(TARGET.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for component in COMPONENTS:
        source, destination = args.model_dir / component, staging / component
        if not weight_files(source):
            raise SystemExit(f"{source} has no model.safetensors: train that stage first.")
        destination.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / "config.json", destination / "config.json")
        weights = {}
        for file in weight_files(source):
            weights.update(load_file(str(file)))
        if component == "encoder":
            weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
        for name, shard in _shards(weights).items():
            save_safetensors(shard, destination / name, metadata={"format": "pt"})
    pipeline = json.loads((args.model_dir / "pipeline.json").read_text())
    # A 64 px model fine-tunes fast: spend the balanced preset's time budget on more fine-tuning (SSIM).
    pipeline["presets"] = {"balanced": {"fine_tune_iterations": 600}}
    (staging / "pipeline.json").write_text(json.dumps(pipeline, indent=2) + "\n")
    shutil.copy2(REPO / "model_card.md", staging / "README.md")
    size = sum(path.stat().st_size for path in staging.rglob("*") if path.is_file())
    if size > MAX_BYTES:
        raise SystemExit(f"the bundle is {size / 2**20:.1f} MB, over the {MAX_BYTES / 2**20:.0f} MB limit.")
    shutil.rmtree(TARGET, ignore_errors=True)
    staging.rename(TARGET)
    print(f"packaged {args.model_dir} -> {TARGET} ({size / 2**20:.1f} MB)")


if __name__ == "__main__":
    main()
