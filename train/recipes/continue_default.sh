#!/usr/bin/env bash
# A new default model from a shipped one: the shipped bundle (INIT, read back by `bertvino import-bundle`) -> a
# dropout-free pass on the training reviews, 4 one-or-two-sentence snippets of each (every snippet labelled by its
# review, none filtered out) and, if given, written one-line reviews (EXTRA_DATA x EXTRA_REPEAT) -> FP16 + INT8 IRs
# -> long_texts: a second look at unsure long reviews (LONG_TEXTS) -> calibration on the validation reviews read that
# way -> bf16 and int8 guards -> IMDB test once -> the shipped bundle (PACKAGE_DIR). Hyper-parameters were chosen on
# the validation split and on shared/data/short_reviews_dev.tsv and no_sentiment_dev.tsv; test/ is only measured.
# Every step logs to $RUN_DIR/logs/ and is skipped when its output exists, so an interrupted run is re-run with the
# same command. The versions' own recipes (imdb_minilm_v3.sh, imdb_minilm_v5.sh) set its variables; with CHECKPOINT
# it ships a checkpoint made elsewhere (v5's soup of four passes) instead of training one.
#
# Needs: pip install -e ".[train,bench]" (NNCF for the INT8 IR).
set -euo pipefail

DATA=${DATA:-../shared/data/aclImdb_v1.tar.gz}
INIT=${INIT:?give INIT=the bundle directory the pass continues}
INIT_NAME=${INIT_NAME:?give INIT_NAME=how provenance names INIT, e.g. "v3 (models/imdb-minilm at commit 3c577a9)"}
VERSION=${VERSION:?give VERSION=the new model, e.g. v5}
RUN_DIR=${RUN_DIR:-runs/$VERSION}
SNIPPETS=${SNIPPETS:-4}
SNIPPET_SENTENCES=${SNIPPET_SENTENCES:-2}
EXTRA_DATA=${EXTRA_DATA:-}     # labelled one-line reviews, trained on beside the reviews (train --extra_data)
EXTRA_REPEAT=${EXTRA_REPEAT:-1}
LR=${LR:-3e-5}
EPOCHS=${EPOCHS:-0.2}
CHECKPOINT=${CHECKPOINT:-}     # a finished checkpoint to ship (e.g. a `bertvino soup`): no pass is trained
PACKAGE_DIR=${PACKAGE_DIR:-}
INT8_RESULTS=${INT8_RESULTS:-}  # where packaging also writes the IMDB test int8-vs-f32 record (benchmarks/results/...)
RECIPE=${RECIPE:-$0}           # the command provenance records
STOP_AFTER=${STOP_AFTER:-}     # "pass" or "guards": stop there, to compare candidates before IMDB test is run
LONG_TEXTS=${LONG_TEXTS:-windows:254,below:0.98}  # chosen on validation: docs/calibration.md

mkdir -p "$RUN_DIR/logs"
log() { echo "[$(date -u +%FT%TZ)] $*" | tee -a "$RUN_DIR/logs/recipe.log"; }
BUNDLE=$RUN_DIR/imdb-minilm
VALIDATION=$RUN_DIR/aclImdb-train-validation  # the same 5,000 held-out train reviews as the pass's validation

PASS=${CHECKPOINT:-$RUN_DIR/pass}
if [ -z "$CHECKPOINT" ] && [ ! -f "$RUN_DIR/init-ckpt/bert_model.ckpt.index" ]; then
  log "import-bundle $INIT -> $RUN_DIR/init-ckpt"
  bertvino import-bundle "$INIT" -o "$RUN_DIR/init-ckpt" > "$RUN_DIR/logs/import.log" 2>&1
fi

EXTRA=()
[ -z "$EXTRA_DATA" ] || EXTRA=(--extra_data "$EXTRA_DATA" --extra_repeat "$EXTRA_REPEAT")
if [ -z "$CHECKPOINT" ] && [ ! -f "$RUN_DIR/pass/eval_results.txt" ]; then
  log "pass (no dropout) from $INIT: $SNIPPETS snippets of 1-$SNIPPET_SENTENCES sentences per review," \
      "${EXTRA_DATA:-no extra data}${EXTRA_DATA:+ x $EXTRA_REPEAT}, lr $LR, $EPOCHS epochs"
  bertvino train --data "$DATA" --split train --bert_config_file "$RUN_DIR/init-ckpt/bert_config.json" \
    --vocab_file "$RUN_DIR/init-ckpt/vocab.txt" --do_lower_case true --max_seq_length 256 --truncation head+tail:64 \
    --train_batch_size 32 --validation_fraction 0.2 --seed 12345 --save_checkpoints_steps 100 \
    --keep_checkpoint_max 3 --snippets "$SNIPPETS" --snippet_sentences "$SNIPPET_SENTENCES" "${EXTRA[@]}" \
    --init_checkpoint "$RUN_DIR/init-ckpt" --no_dropout --learning_rate "$LR" --num_train_epochs "$EPOCHS" \
    --output_dir "$RUN_DIR/pass" >> "$RUN_DIR/logs/pass.log" 2>&1
fi
[ -n "$CHECKPOINT" ] || log "pass done: $(tr '\n' ' ' < "$RUN_DIR/pass/eval_results.txt")"
[ "$STOP_AFTER" != pass ] || exit 0

if [ ! -f "$BUNDLE/model-int8.xml" ]; then
  log "freeze, FP16 IR, INT8 IR (NNCF on 300 train reviews)"
  rm -rf "$BUNDLE" "$RUN_DIR/bundle-after-validate.json"
  bertvino freeze --checkpoint "$PASS" -o "$BUNDLE" > "$RUN_DIR/logs/convert.log" 2>&1
  bertvino convert "$BUNDLE" --precision fp16 >> "$RUN_DIR/logs/convert.log" 2>&1
  bertvino convert "$BUNDLE" --precision int8 --calibration "$DATA" --calibration-split train \
    --calibration-size 300 >> "$RUN_DIR/logs/convert.log" 2>&1
fi

[ -d "$VALIDATION" ] || python benchmarks/validation_split.py "$VALIDATION" --data "$DATA" > /dev/null
if [ ! -f "$PASS/eval_results.txt" ] && [ ! -f "$RUN_DIR/validation-f32.json" ]; then
  log "validation reviews read as trained, f32 (a checkpoint that no training run evaluated)"
  bertvino score "$VALIDATION" -m "$BUNDLE" --precision f32 -o "$RUN_DIR/validation-f32.csv" --overwrite \
    --no-progress --metrics-json "$RUN_DIR/validation-f32.json" > "$RUN_DIR/logs/validation.log" 2>&1
fi
if [ ! -f "$RUN_DIR/bundle-after-validate.json" ]; then  # written once calibrate and validate have both run
  log "long_texts $LONG_TEXTS, calibrate on the validation reviews (read that way), bf16 and int8 guards"
  python -c "import sys; from bertvino.core.bundle import load_bundle, update_metadata
update_metadata(load_bundle(sys.argv[1]), long_texts=sys.argv[2])" "$BUNDLE" "$LONG_TEXTS"
  bertvino calibrate "$BUNDLE" --data "$VALIDATION" --method bucket_temperature --no-progress \
    > "$RUN_DIR/logs/calibrate.log" 2>&1
  bertvino validate -m "$BUNDLE" --data "$VALIDATION" --no-progress > "$RUN_DIR/logs/validate.log" 2>&1
  cp "$BUNDLE/bundle.json" "$RUN_DIR/bundle-after-validate.json"  # int8_accuracy.py --record replaces the guard's
fi
[ "$STOP_AFTER" != guards ] || exit 0

if [ ! -f "$RUN_DIR/int8_accuracy.json" ]; then
  log "IMDB test, once: f32 and int8, then the INT8 IR's record"
  bertvino score "$DATA" --split test -m "$BUNDLE" --precision f32 -o "$RUN_DIR/float.csv" --overwrite \
    --no-progress --metrics-json "$RUN_DIR/test-f32.json" > "$RUN_DIR/logs/test-f32.log" 2>&1
  bertvino score "$DATA" --split test -m "$BUNDLE" --precision int8 -o "$RUN_DIR/int8.csv" --overwrite \
    --no-progress --metrics-json "$RUN_DIR/test-int8.json" > "$RUN_DIR/logs/test-int8.log" 2>&1
  python benchmarks/int8_accuracy.py -m "$BUNDLE" --data "$DATA" --split test \
    --data-note "all of aclImdb_v1's test reviews" --float-rows "$RUN_DIR/float.csv" --int8-rows "$RUN_DIR/int8.csv" \
    --short-data "$DATA" --short-texts 2000 --record --out "$RUN_DIR/int8_accuracy.json" \
    > "$RUN_DIR/logs/int8_accuracy.log" 2>&1
fi

if [ -n "$PACKAGE_DIR" ]; then
  log "packaging -> $PACKAGE_DIR"
  python train/recipes/package.py "$BUNDLE" "$RUN_DIR" "$PASS" "$INIT" "$PACKAGE_DIR" --version "$VERSION" \
    --init-name "$INIT_NAME" --recipe "$RECIPE" ${EXTRA_DATA:+--extra-data "$EXTRA_DATA"} \
    ${INT8_RESULTS:+--int8-results "$INT8_RESULTS"}
fi
log "done: $BUNDLE"
