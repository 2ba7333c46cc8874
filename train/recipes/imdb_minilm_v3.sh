#!/usr/bin/env bash
# The v3 default model's recipe: v2 (the previous default) continued by a dropout-free pass on the training reviews
# plus 4 one-or-two-sentence snippets of each, every snippet labelled by its review and none filtered out (a sentence
# that says nothing is then ~50/50, an idiom leans to the side it is said on); then continue_default.sh's shipping
# steps (IRs, second look, calibration, guards, IMDB test once). docs/default-model.md, "v3".
#
#   git worktree add ../bertvino-v2 692368d       # v2, the teacher-free starting point
#   V2=../bertvino-v2/models/imdb-minilm RUN_DIR=runs/v3 PACKAGE_DIR=models/imdb-minilm train/recipes/imdb_minilm_v3.sh
set -euo pipefail
V2=${V2:?give V2=the v2 bundle directory (models/imdb-minilm at commit 692368d)}
INIT=$V2 INIT_NAME="v2, the previous default (models/imdb-minilm at commit 692368d)" VERSION=v3 \
  RUN_DIR=${RUN_DIR:-runs/v3} \
  RECIPE="git worktree add ../bertvino-v2 692368d && V2=../bertvino-v2/models/imdb-minilm RUN_DIR=runs/v3 PACKAGE_DIR=models/imdb-minilm train/recipes/imdb_minilm_v3.sh" \
  exec "$(dirname "$0")/continue_default.sh"
