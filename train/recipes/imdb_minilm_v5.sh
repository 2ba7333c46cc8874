#!/usr/bin/env bash
# The v5 default model's recipe: four dropout-free passes over the training reviews, 4 snippets of each and written
# one-line reviews (train/data/one_line_reviews.csv), averaged weight by weight (`bertvino soup`): from v3, its first
# 2,352 rows x 8 (a: v4's pass), its first 4,742 x 4 (b), all 8,306 x 3 (c); from v4, all 8,306 x 3 (d). Then
# continue_default.sh's shipping steps (IRs, second look, calibration, guards, IMDB test once). Chosen on the
# validation split and the dev sets: docs/default-model.md, "v5". About 1 h 15 min of training and 1 h for the rest
# on 2 cores.
#
#   git worktree add ../bertvino-v3 3c577a9 && git worktree add ../bertvino-v4 6c5dd9d
#   V3=../bertvino-v3/models/imdb-minilm V4=../bertvino-v4/models/imdb-minilm RUN_DIR=runs/v5 \
#     PACKAGE_DIR=models/imdb-minilm train/recipes/imdb_minilm_v5.sh
set -euo pipefail
V3=${V3:?give V3=the v3 bundle directory (models/imdb-minilm at commit 3c577a9)}
V4=${V4:?give V4=the v4 bundle directory (models/imdb-minilm at commit 6c5dd9d)}
RUN_DIR=${RUN_DIR:-runs/v5}
ONE_LINERS=train/data/one_line_reviews.csv
RECIPE="git worktree add ../bertvino-v3 3c577a9 && git worktree add ../bertvino-v4 6c5dd9d && V3=../bertvino-v3/models/imdb-minilm V4=../bertvino-v4/models/imdb-minilm RUN_DIR=runs/v5 PACKAGE_DIR=models/imdb-minilm train/recipes/imdb_minilm_v5.sh"
export VERSION=v5 RECIPE
V3_NAME="v3 (models/imdb-minilm at commit 3c577a9)"
V4_NAME="v4 (models/imdb-minilm at commit 6c5dd9d)"

ingredients=()
for ingredient in a:V3:2352:8 b:V3:4742:4 c:V3:8306:3 d:V4:8306:3; do
  IFS=: read -r name start rows repeat <<< "$ingredient"
  if [ "$start" = V3 ]; then init=$V3 init_name=$V3_NAME; else init=$V4 init_name=$V4_NAME; fi
  mkdir -p "$RUN_DIR/$name"
  head -n $((rows + 1)) "$ONE_LINERS" > "$RUN_DIR/$name/one_line_reviews-$rows.csv"  # the header and N rows
  INIT=$init INIT_NAME=$init_name RUN_DIR=$RUN_DIR/$name EXTRA_DATA=$RUN_DIR/$name/one_line_reviews-$rows.csv \
    EXTRA_REPEAT=$repeat STOP_AFTER=pass "$(dirname "$0")/continue_default.sh"
  ingredients+=("$RUN_DIR/$name/pass")
done
[ -f "$RUN_DIR/pass/bert_model.ckpt.index" ] || bertvino soup "${ingredients[@]}" -o "$RUN_DIR/pass" \
  > "$RUN_DIR/soup.log" 2>&1
INIT=$V3 INIT_NAME=$V3_NAME CHECKPOINT=$RUN_DIR/pass \
  INT8_RESULTS=${INT8_RESULTS-benchmarks/results/int8_accuracy.json} exec "$(dirname "$0")/continue_default.sh"
