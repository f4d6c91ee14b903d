#!/usr/bin/env bash
# The CUDA check of the applications, as one script for a lent GPU machine: the tests that
# train each task end to end (forecast, anomaly, classify, language, sentiment, music) and the
# training loop's tests, with train.device=auto picking the GPU; then the device-parameterized
# layer tests (parity with torch.nn/cuDNN, properties, streaming). Writes the log to $OUT.
# Wheels the machine lacks (music21, mido, pmdarima) travel in .whl (see the device README).
set -uo pipefail
OUT=${OUT:-benchmarks/results}
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 RNNKIT_CACHE=/tmp/rnnkit-cache MPLBACKEND=Agg
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name(0), '| cuDNN', torch.backends.cudnn.version())"
python3 -c "from rnnkit.training.distributed import DistInfo, resolve_device; print('train.device=auto ->', resolve_device('auto', DistInfo()))"
timeout 480 python3 -m pytest -q -p no:cacheprovider -rfEs --tb=short -n 6 -W "default::UserWarning" \
    tests/tasks tests/training tests/layers \
    2>&1 | tee "$OUT/gpu_tasks.log" | tail -60
exit "${PIPESTATUS[0]}"
