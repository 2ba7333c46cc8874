#!/usr/bin/env bash
# Every measurement the README quotes for the default model, in one go. Run it on an otherwise idle machine:
#
#   benchmarks/run_default.sh RUN_DIR [DATA]
#
# RUN_DIR is the recipe's run directory (train/recipes/imdb_minilm.sh): its bundle/ has the frozen graph that the
# TensorFlow comparison needs (the shipped bundle does not carry frozen.pb). DATA is the IMDB archive.
# Results go to benchmarks/results/.
set -euo pipefail
RUN_DIR=${1:?usage: benchmarks/run_default.sh RUN_DIR [DATA]}
DATA=${2:-$(python benchmarks/common.py)}  # common.py's default: ../shared/data/aclImdb_v1.tar.gz
OUT=benchmarks/results
mkdir -p "$OUT"

# 1. score on 2,000 test reviews with no flag (auto) and with --precision f32, side by side, each against the engine
python benchmarks/score_speedup.py --data "$DATA" --reviews 2000 --out "$OUT/score_speedup"

# 2. latency, engine and pipeline throughput per precision path and length, against each arithmetic's own peak,
#    with the chart (the shipped bundle: float and INT8 IRs); then the TensorFlow baseline on the run's frozen.pb
bertvino bench --seconds 2 --json "$OUT/bench.json" --markdown "$OUT/bench.md" > "$OUT/bench.log" 2>&1
bertvino bench -m "$RUN_DIR/bundle" --precision f32 --seconds 2 --json "$OUT/bench-tensorflow.json" \
  --markdown "$OUT/bench-tensorflow.md" > "$OUT/bench-tensorflow.log" 2>&1

# 3. the shipped INT8 IR against the float IR: full test split, and short text (what the accuracy guard reads)
python benchmarks/int8_accuracy.py -m models/imdb-minilm --data "$DATA" --split test \
  --out "$OUT/int8_accuracy.json" > "$OUT/int8_accuracy.log" 2>&1

# 4. the HTTP service at 1, 4 and 16 concurrent clients
python benchmarks/serve_bench.py --data "$DATA" --max-texts 1000 --output-dir "$OUT"
