#!/usr/bin/env bash
# The CUDA checks, as one script for a lent GPU machine: the device-parameterized tests
# (parity with torch.nn/cuDNN, properties, errors, checkpointing over time, streaming), the
# parity table on CPU and CUDA, and the speed benchmark with cuDNN as the reference.
# Writes its logs and tables to $OUT (default benchmarks/results).
set -uo pipefail
OUT=${OUT:-benchmarks/results}
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name(0), '| cuDNN', torch.backends.cudnn.version())"
python3 -m pytest -q -p no:cacheprovider -rfEs --tb=short -W "default::UserWarning" \
    tests/layers tests/cells tests/test_architecture.py 2>&1 | tee "$OUT/gpu_tests.log" | tail -40
status=${PIPESTATUS[0]}
python3 benchmarks/parity.py --out "$OUT" --name parity_cuda | tail -45
python3 benchmarks/speed.py --device cuda --out "$OUT" --name speed_cuda | tail -60
exit "$status"
