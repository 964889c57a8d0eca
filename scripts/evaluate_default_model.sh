#!/usr/bin/env bash
# Measure a model the way model_card.md reports it: reconstruction SSIM at the model's resolution, motion in the sky
# vs on land, per-preset CPU time for 60 frames from a 512 px photo, and synthetic sample frames.
#
#   bash scripts/evaluate_default_model.sh [MODEL_DIR] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${1:-deeplandscape_hf/default_model}"
OUT="${2:-runs/default-model-eval}"
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
PHOTOS=(mountains_clouds_01 lake_dock_01 castle_hills_01 beach_bridge_01 hills_fog_01 temple_pool_01)

mkdir -p "$OUT/photos" "$OUT/videos"
for name in "${PHOTOS[@]}"; do cp "examples/$name.jpg" "$OUT/photos/"; done

# 1. Reconstruction (raw generator frames at the model's resolution), Table 2 layout.
deeplandscape evaluate inversion "$OUT/photos" --model "$MODEL" --variants eoif,eoifs --preset balanced \
    --frames 16 --csv "$OUT/inversion.csv" --quiet | tee "$OUT/inversion.md"

# 2. Animations with the balanced preset (composited at the photo's resolution), then motion sky vs land.
for name in "${PHOTOS[@]}"; do
    deeplandscape animate "$OUT/photos/$name.jpg" --model "$MODEL" --preset balanced --frames 60 \
        --out "$OUT/videos/$name.mp4" --quiet
done
deeplandscape evaluate animation "$OUT/videos" --inputs "$OUT/photos" --no-lpips \
    --json "$OUT/animation.json" --csv "$OUT/animation.csv" | tee "$OUT/animation.md"

# 3. CPU time per preset and per stage (60 frames, 512 px photo).
python benchmarks/bench_animate.py --model "$MODEL" --presets fast balanced --frames 60 \
    --out "$OUT/bench_animate.json" | tee "$OUT/bench_animate.txt"

# 4. Synthetic videos (four samples side by side) and a few frames for the README.
deeplandscape generate --model "$MODEL" --num-videos 4 --frames 60 --motion m01 --seed 0 --out "$OUT/synthetic.mp4"
python - "$OUT/synthetic.mp4" "$OUT/synthetic_frames.png" <<'PY'
import sys

import imageio.v3 as iio
import numpy as np
from PIL import Image

video = iio.imread(sys.argv[1])  # (T, H, 4 * W, 3): four samples side by side
rows = [video[index] for index in (0, len(video) // 2, len(video) - 1)]  # first, middle, last frame
strip = Image.fromarray(np.concatenate(rows, axis=0))
strip.resize((strip.width * 2, strip.height * 2), Image.Resampling.NEAREST).save(sys.argv[2])
print(f"wrote {sys.argv[2]}: frames 0, {len(video) // 2}, {len(video) - 1} (rows) of four samples (columns)")
PY
