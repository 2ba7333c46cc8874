#!/usr/bin/env bash
# The v5 default model's recipe: three dropout-free passes from v3, each over the training reviews, 4 snippets of
# each and written one-line reviews (train/data/one_line_reviews.csv: its first 2,352 rows x 8, its first 4,742 x 4,
# all 8,306 x 3; the first is v4's pass), averaged weight by weight (`bertvino soup`); then continue_default.sh's
# shipping steps (IRs, second look, calibration, guards, IMDB test once). Chosen on the validation split and the
# dev sets: docs/default-model.md, "v5". About 1 h of training and 1 h of the rest on 2 cores.
#
#   git worktree add ../bertvino-v3 3c577a9       # v3, where every pass starts
#   V3=../bertvino-v3/models/imdb-minilm RUN_DIR=runs/v5 PACKAGE_DIR=models/imdb-minilm train/recipes/imdb_minilm_v5.sh
set -euo pipefail
V3=${V3:?give V3=the v3 bundle directory (models/imdb-minilm at commit 3c577a9)}
RUN_DIR=${RUN_DIR:-runs/v5}
ONE_LINERS=train/data/one_line_reviews.csv
RECIPE="git worktree add ../bertvino-v3 3c577a9 && V3=../bertvino-v3/models/imdb-minilm RUN_DIR=runs/v5 PACKAGE_DIR=models/imdb-minilm train/recipes/imdb_minilm_v5.sh"
export INIT=$V3 INIT_NAME="v3 (models/imdb-minilm at commit 3c577a9)" VERSION=v5 RECIPE

ingredients=()
for ingredient in a:2352:8 b:4742:4 c:8306:3; do
  IFS=: read -r name rows repeat <<< "$ingredient"
  mkdir -p "$RUN_DIR/$name"
  head -n $((rows + 1)) "$ONE_LINERS" > "$RUN_DIR/$name/one_line_reviews-$rows.csv"  # the header and N rows
  RUN_DIR=$RUN_DIR/$name EXTRA_DATA=$RUN_DIR/$name/one_line_reviews-$rows.csv EXTRA_REPEAT=$repeat STOP_AFTER=pass \
    "$(dirname "$0")/continue_default.sh"
  ingredients+=("$RUN_DIR/$name/pass")
done
[ -f "$RUN_DIR/pass/bert_model.ckpt.index" ] || bertvino soup "${ingredients[@]}" -o "$RUN_DIR/pass" \
  > "$RUN_DIR/soup.log" 2>&1
CHECKPOINT=$RUN_DIR/pass INT8_RESULTS=${INT8_RESULTS-benchmarks/results/int8_accuracy.json} \
  exec "$(dirname "$0")/continue_default.sh"
