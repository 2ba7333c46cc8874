#!/usr/bin/env bash
# Every measurement the README quotes for the default model, in one go. Run it on an otherwise idle machine:
#
#   benchmarks/run_default.sh RUN_DIR [DATA]
#
# RUN_DIR is the recipe's run directory (train/recipes/imdb_minilm.sh): its bundle/ has the frozen graph that the
# FP16/INT8/TensorFlow comparisons need (the shipped bundle does not carry frozen.pb). DATA is the IMDB archive.
# Results go to benchmarks/results/.
set -euo pipefail
RUN_DIR=${1:?usage: benchmarks/run_default.sh RUN_DIR [DATA]}
DATA=${2:-$(python benchmarks/common.py)}  # common.py's default: ../shared/data/aclImdb_v1.tar.gz
OUT=benchmarks/results
mkdir -p "$OUT"

# 1. score on 1,000 test reviews, process start to exit, against the compute floor (the shipped model)
python benchmarks/score_floor.py --data "$DATA" --reviews 1000 --out "$OUT/score_floor"

# 2. latency and throughput per precision and length, TensorFlow baseline, cold start
bertvino bench -m "$RUN_DIR/bundle" --calibration "$DATA" --calibration-split train --seconds 2 --json "$OUT/bench.json" \
  --markdown "$OUT/bench.md" > "$OUT/bench.log" 2>&1

# 3. INT8: accuracy on the full test split (calibrated on train/ reviews, never test/)
rm -rf "$RUN_DIR/bundle-int8" && cp -r "$RUN_DIR/bundle" "$RUN_DIR/bundle-int8"
bertvino convert "$RUN_DIR/bundle-int8" --precision int8 --calibration "$DATA" --calibration-split train
python benchmarks/imdb_accuracy.py -m "$RUN_DIR/bundle-int8" --data "$DATA" --split test \
  --out "$OUT/accuracy-default-int8.json" > "$OUT/accuracy-int8.log" 2>&1

# 4. the HTTP service at 1, 4 and 16 concurrent clients
python benchmarks/serve_bench.py --data "$DATA" --max-texts 1000 --output-dir "$OUT"
