"""Copy a trained model folder into the package as the bundled default model (deeplandscape_hf/default_model).

    python scripts/package_default_model.py runs/default-model/model

Takes the exported files only (no checkpoints, samples, logs or data cache), stores the encoder's weights in float16
(the ResNet-18 trunk is most of the size; weights load back into the float32 model), and uses model_card.md as the
folder's README.md. Checks the bundle stays under the 60 MB the repository allows.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "deeplandscape_hf" / "default_model"
COMPONENTS = ("", "encoder", "dynamics", "discriminators/image", "discriminators/pairwise")
MAX_BYTES = 60 * 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="folder written by train_accelerate.py (gan, encoder, dynamics)")
    args = parser.parse_args()
    staging = TARGET.with_name(TARGET.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for component in COMPONENTS:
        source, destination = args.model_dir / component, staging / component
        if not (source / "model.safetensors").is_file():
            raise SystemExit(f"{source} has no model.safetensors: train that stage first.")
        destination.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / "config.json", destination / "config.json")
        weights = load_file(str(source / "model.safetensors"))
        if component == "encoder":
            weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
        save_file(weights, str(destination / "model.safetensors"), metadata={"format": "pt"})
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
