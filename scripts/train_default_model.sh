#!/usr/bin/env bash
# Reproduce the bundled default model (deeplandscape_hf/default_model) from a clean clone, on a CPU.
# Every stage resumes from its latest checkpoint when the script is run again after a stop.
#
#   bash scripts/train_default_model.sh [WORK_DIR]        (default WORK_DIR: runs/default-model)
#
# Data: the photos in examples/ (see examples/SOURCES.md for their licenses) and procedural landscape videos
# written by deeplandscape_hf.procedural (drifting clouds over static hills, water mirroring the sky).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:-runs/default-model}"
export HF_HUB_OFFLINE=1
THREADS="${THREADS:-1}"
GAN_KIMG="${GAN_KIMG:-16}"
ENCODER_STEPS="${ENCODER_STEPS:-1500}"
DYNAMICS_STEPS="${DYNAMICS_STEPS:-1500}"

mkdir -p "$WORK"
if [ ! -f "$WORK/videos/metadata.json" ]; then
    python -c "
from deeplandscape_hf.procedural import write_procedural_dataset
write_procedural_dataset('$WORK/videos', num_videos=64, num_frames=32, size=(160, 224), seed=2020)
"
fi

python train_accelerate.py gan --config scripts/default_model_config.json --max_kimg "$GAN_KIMG" \
    --image_dir examples --video_dir "$WORK/videos" --video_frames_as_images yes --output_dir "$WORK/model" \
    --seed 0 --cpu_threads "$THREADS" --checkpointing_steps 100 --checkpoints_total_limit 2 \
    --sample_steps 1000 --report_to tensorboard --resume_from_checkpoint latest

python train_accelerate.py encoder --generator "$WORK/model" --output_dir "$WORK/model" \
    --backbone resnet18 --no_pretrained_backbone --max_train_steps "$ENCODER_STEPS" \
    --seed 0 --cpu_threads "$THREADS" --checkpointing_steps 250 --checkpoints_total_limit 2 \
    --report_to tensorboard --resume_from_checkpoint latest

python train_accelerate.py dynamics --generator "$WORK/model" --output_dir "$WORK/model" \
    --max_train_steps "$DYNAMICS_STEPS" --seed 0 --cpu_threads "$THREADS" \
    --checkpointing_steps 500 --checkpoints_total_limit 2 --report_to tensorboard --resume_from_checkpoint latest

python scripts/package_default_model.py "$WORK/model"
