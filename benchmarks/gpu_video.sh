#!/usr/bin/env bash
# Video frame prediction on a lent GPU machine, as one script: the ConvLSTM encoder-forecaster and
# the FC-LSTM, preset `video-prediction`, trained side by side on the GPU for the same budget in
# steps (STEPS, each run capped at MAX_SECONDS), their test parts read once by each run's report;
# then the table of both beside the baselines and the published anchors (`--from-runs`), and the
# ConvLSTM speed case (the readable loop against torch.compile, forward + backward) on CUDA.
# Writes the tables, plots and logs to $OUT (checkpoints deleted: they do not need to come back).
# The machine has no network: the MNIST digits travel as rnnkit's cache, made here once by
#   RNNKIT_CACHE=.cache_video python -c "from rnnkit.data.video import load_mnist_digits as f; f()"
#   rm .cache_video/mnist/*.tgz
# and carried (`carry: [".cache_video"]`); scikit-image, imageio and matplotlib are in its image.
set -uo pipefail
OUT=${OUT:-benchmarks/results}
STEPS=${STEPS:-20000}
MAX_SECONDS=${MAX_SECONDS:-360}
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 RNNKIT_CACHE="$PWD/.cache_video" MPLBACKEND=Agg
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name(0))"
test -f .cache_video/mnist/digits.npz || { echo "carry .cache_video (see the top of this script)"; exit 2; }
pids=()
for kind in convlstm fclstm; do
    python3 benchmarks/video.py --cases "prediction:$kind" --steps "$STEPS" --max-seconds "$MAX_SECONDS" \
        --out "$OUT/video-gpu" --name "video-prediction-gpu-$kind" > "$OUT/video-$kind.log" 2>&1 &
    pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
python3 benchmarks/video.py --cases prediction:convlstm prediction:fclstm --steps "$STEPS" --from-runs \
    --out "$OUT/video-gpu" --name video-prediction-gpu || rc=1
python3 benchmarks/video.py --cases speed:convlstm --out "$OUT" --name video-speed-cuda || rc=1
find "$OUT" -name 'checkpoint-*.safetensors' -delete
tail -5 "$OUT"/video-*.log
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv
exit $rc
