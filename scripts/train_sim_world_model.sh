#!/usr/bin/env bash
# The sim world model's whole recipe (issue 11): collect -> V-JEPA encoder pretraining ->
# feature cache -> AC predictor -> held-out benches. Every stage resumes where it stopped:
# run the same command again after an interruption. Outputs under data/ and runs/ (not in
# git); ship by copying the exported files into weights/ (see weights/*/MODEL_CARD.md).
#
#   scripts/train_sim_world_model.sh            # all stages
#   EPISODES=1000 ENC_STEPS=2000 AC_STEPS=3000 scripts/train_sim_world_model.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export MUJOCO_GL="${MUJOCO_GL:-egl}" OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1
V=.venv/bin/vjepa2
TAG="${TAG:-framed}"
SIM_CONFIG="${SIM_CONFIG:-config/sim_cell.yaml}"
EPISODES="${EPISODES:-1000}"; STEPS="${STEPS:-32}"; HELDOUT="${HELDOUT:-40}"
ENC_EPISODES="${ENC_EPISODES:-500}"   # the encoder starts once this many are collected
ENC_STEPS="${ENC_STEPS:-2000}"; AC_STEPS="${AC_STEPS:-3000}"; GRIP_REPEAT="${GRIP_REPEAT:-4}"
ENCODER="${ENCODER:-}"   # an already trained encoder file: skips the encoder stage
AC_INIT="${AC_INIT:-}"   # a trained predictor to start the AC stage from (same shapes)
START="${START:-0}"      # first training seed offset (episodes get seeds 1000+START+i)
D="data/$TAG"; R="runs/$TAG"
mkdir -p "$D" "$R"
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
count() { ls -d "$1"/ep_*/metadata.yaml 2>/dev/null | wc -l; }

log "collect: $EPISODES train episodes x $STEPS steps -> $D/episodes (seeds 1000+i)"
$V collect --out "$D/episodes" --start "$START" --episodes "$EPISODES" --steps "$STEPS" --workers 2 \
  --sim-config "$SIM_CONFIG" > "$R/collect.log" 2>&1 &
collect_pid=$!

if [ -z "$ENCODER" ]; then
  # Encoder on the first ENC_EPISODES episodes (a fixed set, so its resume is exact).
  while [ "$(count "$D/episodes")" -lt "$ENC_EPISODES" ] && kill -0 $collect_pid 2>/dev/null; do
    sleep 20
  done
  mkdir -p "$D/enc_episodes"
  for ep in $(ls -d "$D"/episodes/ep_* | grep -v '\.tmp$' | head -n "$ENC_EPISODES"); do
    ln -sfn "../episodes/$(basename "$ep")" "$D/enc_episodes/$(basename "$ep")"
  done
  log "train-encoder: $ENC_STEPS steps on $(count "$D/enc_episodes") episodes -> $R/encoder"
  $V train-encoder --config configs/train_encoder_tiny.yaml run_dir="$R/encoder" \
    data.episodes="$D/enc_episodes" data.frame_cache="$D/frames" train.steps="$ENC_STEPS" \
    train.eval_every=250 export.path="$R/encoder/encoder.safetensors" > "$R/encoder.log" 2>&1
fi
wait $collect_pid || log "collect stopped (status $?): going on with the episodes collected"
log "collect: $HELDOUT held-out episodes -> $D/heldout (seeds 101000+i, never trained on)"
$V collect --out "$D/heldout" --start 100000 --episodes "$HELDOUT" --steps 48 --workers 2 \
  --sim-config "$SIM_CONFIG" >> "$R/collect.log" 2>&1
ENC="${ENCODER:-$R/encoder/encoder.safetensors}"
log "cache-features with $ENC"
$V cache-features --episodes "$D/episodes" --encoder "$ENC" --cache-root "$D/features" --threads 2 > "$R/cache.log" 2>&1
$V cache-features --episodes "$D/heldout" --encoder "$ENC" --cache-root "$D/features_heldout" --threads 2 >> "$R/cache.log" 2>&1
log "train-ac: $AC_STEPS steps, gripper events x$GRIP_REPEAT -> $R/ac"
$V train-ac --config configs/train_ac_tiny.yaml run_dir="$R/ac" data.episodes="$D/episodes" \
  data.encoder="$ENC" data.cache_root="$D/features" data.gripper_repeat="$GRIP_REPEAT" \
  train.steps="$AC_STEPS" export.path="$R/ac/ac_predictor.safetensors" \
  ${AC_INIT:+model.init_from="$AC_INIT" model.pca_init=false} > "$R/ac.log" 2>&1
log "bench dynamics on $D/heldout"
$V bench dynamics --predictor "$R/ac/ac_predictor.safetensors" --encoder "$ENC" \
  --episodes "$D/heldout" --cache-root "$D/features_heldout" --all --threads 2 \
  --random-actions 32 > "$R/bench_dynamics.txt" 2>&1 || true
log "done: encoder $ENC, predictor $R/ac/ac_predictor.safetensors, figures $R/bench_*.txt"
