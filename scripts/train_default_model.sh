#!/usr/bin/env bash
# Reproduce the bundled default model (deeplandscape_hf/default_model) from a clean clone, on a CPU.
# Every stage resumes from its latest checkpoint when the script is run again after a stop.
#
#   bash scripts/train_default_model.sh [WORK_DIR]        (default WORK_DIR: runs/default-model)
#
# Data: the photos in examples/ (see examples/SOURCES.md for their licenses) and procedural landscape videos
# written by deeplandscape_hf.training.procedural: drifting clouds over static hills, water mirroring the sky, and light that
# walks the whole day cycle within each clip (day -> sunset -> blue hour -> night -> morning), so the pairwise
# discriminator teaches the generator that light, like clouds, belongs to the dynamic latent z_dyn. With shorter walks
# each clip's base light is a property of the clip, and the generator keeps it in z_static (measured: z_dyn then set
# the mean brightness 7x less than z_static did; over the whole cycle, see the model card).
# THREADS (default 2): torch threads per stage; GAN_KIMG, ENCODER_STEPS, DYNAMICS_STEPS: length of each stage;
# GAN_CHECKPOINT_STEPS (default 200): GAN iterations between checkpoints (to stop early: rerun with a smaller GAN_KIMG).
# DAY_SPAN (default 1, the whole cycle): how far along the day cycle each video's light walks, a number or "random"
# (0.05-0.4 per clip); 0 gives fixed-light videos, the data of the default model shipped before the day-cycle videos.
# PACKAGE=no: stop before copying the result into deeplandscape_hf/default_model (to compare it with the shipped one).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:-runs/default-model}"
export HF_HUB_OFFLINE=1
THREADS="${THREADS:-2}"
GAN_KIMG="${GAN_KIMG:-64}"
GAN_CHECKPOINT_STEPS="${GAN_CHECKPOINT_STEPS:-200}"
DAY_SPAN="${DAY_SPAN:-1}"
ENCODER_STEPS="${ENCODER_STEPS:-500}"
DYNAMICS_STEPS="${DYNAMICS_STEPS:-6000}"

mkdir -p "$WORK"
# 512 short procedural day-cycle videos (two folders of 256, written in parallel): many scenes per image seen.
for part in a:2021 b:2022; do
    folder="$WORK/videos/${part%%:*}"
    if [ ! -f "$folder/metadata.json" ]; then
        python -c "
from deeplandscape_hf.training.procedural import write_procedural_dataset
write_procedural_dataset('$folder', num_videos=256, num_frames=12, size=(96, 128), seed=${part##*:},
                         day_span=None if '$DAY_SPAN' == 'random' else float('$DAY_SPAN'))
" &
    fi
done
wait

python train_accelerate.py gan --config scripts/default_model_config.json --max_kimg "$GAN_KIMG" \
    --image_dir examples --video_dir "$WORK/videos/a" --video_dir "$WORK/videos/b" --video_frames_as_images yes \
    --output_dir "$WORK/model" --seed 0 --cpu_threads "$THREADS" --checkpointing_steps "$GAN_CHECKPOINT_STEPS" \
    --checkpoints_total_limit 3 --sample_steps 2000 --report_to tensorboard --resume_from_checkpoint latest

# The encoder and network A are trained against one generator. When the GAN stage has moved on since (a larger
# GAN_KIMG), their checkpoints are stale: set them aside so both stages start over.
generator_digest="$(sha256sum "$WORK/model/model.safetensors" | cut -d' ' -f1)"
stamp="$WORK/model/checkpoints/trained_against_generator.sha256"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" != "$generator_digest" ]; then
    aside="$WORK/model/checkpoints/stale-$(date +%Y%m%d-%H%M%S)"
    echo "the generator changed since the encoder and network A were trained: moving their checkpoints to $aside"
    mkdir -p "$aside"
    for stage in encoder dynamics; do
        if [ -d "$WORK/model/checkpoints/$stage" ]; then mv "$WORK/model/checkpoints/$stage" "$aside/"; fi
    done
fi
echo "$generator_digest" > "$stamp"

python train_accelerate.py encoder --generator "$WORK/model" --output_dir "$WORK/model" \
    --no_pretrained_backbone --max_train_steps "$ENCODER_STEPS" --seed 0 --cpu_threads "$THREADS" --checkpointing_steps 250 --checkpoints_total_limit 2 \
    --report_to tensorboard --resume_from_checkpoint latest

python train_accelerate.py dynamics --generator "$WORK/model" --output_dir "$WORK/model" \
    --max_train_steps "$DYNAMICS_STEPS" --seed 0 --cpu_threads "$THREADS" \
    --checkpointing_steps 500 --checkpoints_total_limit 2 --report_to tensorboard --resume_from_checkpoint latest

# What each time-of-day name means in this model, found from its samples and written into its pipeline.json
# (names it cannot render are marked unreachable; packaging keeps the vocabulary).
python -m deeplandscape_hf calibrate-styles "$WORK/model"

if [ "${PACKAGE:-yes}" = yes ]; then
    python scripts/package_default_model.py "$WORK/model"
fi
