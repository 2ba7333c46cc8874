#!/usr/bin/env bash
# How the shipped INT8 IR (models/imdb-minilm/model-int8.xml) was made and measured: the exact commands.
#
#   benchmarks/quantize_default.sh [DATA] [SAMPLE]
#
# 1. quantize the shipped FP16 IR (model.xml, left unchanged) with NNCF on 300 IMDB *train* reviews;
# 2. score the test reviews with the INT8 IR and with the float IR in f32 arithmetic (two processes, side by side);
# 3. compare them, add short text (the last sentence of 2,000 random test reviews), and record it all in
#    bundle.json, where `--precision auto`'s accuracy guard reads it.
# SAMPLE=0 (the default, and what the recorded numbers come from) measures all 25,000 test reviews, about 15
# minutes for both paths side by side on an idle 2-core machine; SAMPLE=N scores a seeded balanced N of them.
set -euo pipefail
DATA=${1:-../shared/data/aclImdb_v1.tar.gz}
SAMPLE=${2:-0}
WORK=${WORK:-$(mktemp -d)}
BUNDLE=models/imdb-minilm

bertvino convert "$BUNDLE" --precision int8 --calibration "$DATA" --calibration-split train --calibration-size 300

if [ "$SAMPLE" -gt 0 ]; then
  TEST="$WORK/aclImdb-test-sample-$SAMPLE"
  python benchmarks/imdb_sample.py --data "$DATA" --reviews "$SAMPLE" --out "$TEST"
  NOTE="a seeded (0), balanced random $SAMPLE of the 25,000 aclImdb_v1 test reviews (benchmarks/imdb_sample.py)"
else
  TEST="$DATA"
  NOTE="all of aclImdb_v1's test reviews"
fi
nice -n 5 bertvino score "$TEST" --split test -m "$BUNDLE" --precision f32 -o "$WORK/float.csv" --no-progress &
nice -n 5 bertvino score "$TEST" --split test -m "$BUNDLE" --precision int8 -o "$WORK/int8.csv" --no-progress &
wait
python benchmarks/int8_accuracy.py -m "$BUNDLE" --data "$TEST" --split test --data-note "$NOTE" \
  --float-rows "$WORK/float.csv" --int8-rows "$WORK/int8.csv" --short-data "$DATA" --short-texts 2000 --record
