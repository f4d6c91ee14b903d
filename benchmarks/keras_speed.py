"""Keras 3 (JAX backend) side of the speed benchmark, run in its own virtualenv.

Standalone on purpose: it imports neither torch nor rnnkit, only keras, jax and numpy, so it
runs with the Python of a virtualenv that has Keras 3 and JAX (``make keras-venv`` makes
``benchmarks/.venv-keras``). ``python benchmarks/speed.py`` calls it as a subprocess:

    python keras_speed.py '{"shapes": [[T, B, I, H, layers], ...], "rounds": 5, "min_seconds": 0.05}'

and reads one JSON object from its stdout: versions, and per shape and candidate the median
seconds of a jitted forward pass and of a jitted forward+backward (gradients of the summed
outputs with respect to every weight), timed interleaved as the torch side is, plus the
first-call (compile) time.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time


def main(argv: list[str]) -> None:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax
    import keras
    import numpy as np

    spec = json.loads(argv[0])
    rounds, min_seconds = spec["rounds"], spec["min_seconds"]
    candidates = {
        "Keras LSTM (JAX)": ("LSTM", {}),
        "Keras LSTM recurrent_dropout=0.25 (JAX)": ("LSTM", {"recurrent_dropout": 0.25}),
        "Keras GRU (JAX)": ("GRU", {}),
    }
    rows = []
    for T, B, I, H, layers in spec["shapes"]:
        x = np.random.default_rng(0).standard_normal((B, T, I), dtype=np.float32)
        calls, compile_seconds = {}, {}
        for name, (kind, options) in candidates.items():
            inputs = keras.Input((T, I), batch_size=B)
            y = inputs
            for _ in range(layers):
                y = getattr(keras.layers, kind)(H, return_sequences=True, **options)(y)
            model = keras.Model(inputs, y)
            trainable = [v.value for v in model.trainable_variables]
            fixed = [v.value for v in model.non_trainable_variables]

            def forward(tv, ntv, x, model=model):  # noqa: ANN001, ANN202
                return model.stateless_call(tv, ntv, x, training=False)[0]

            def loss(tv, ntv, x, model=model):  # noqa: ANN001, ANN202
                return model.stateless_call(tv, ntv, x, training=True)[0].sum()

            fwd = jax.jit(forward)
            train = jax.jit(jax.value_and_grad(loss))
            for mode, fn in (("forward", fwd), ("forward+backward", train)):
                start = time.perf_counter()
                jax.block_until_ready(fn(trainable, fixed, x))
                compile_seconds[(name, mode)] = time.perf_counter() - start
                calls[(name, mode)] = (lambda fn=fn, tv=trainable, ntv=fixed: jax.block_until_ready(fn(tv, ntv, x)))
        for mode in ("forward", "forward+backward"):
            names = [key for key in calls if key[1] == mode]
            medians = _time_interleaved({key: calls[key] for key in names}, rounds, min_seconds)
            for (name, _), seconds in medians.items():
                rows.append({"shape": f"{T},{B},{I},{H},{layers}", "mode": mode, "impl": name, "seconds": seconds,
                             "compile_seconds": compile_seconds[(name, mode)]})
        print(f"keras {T},{B},{I},{H},{layers} done", file=sys.stderr, flush=True)
    print(json.dumps({"keras": keras.__version__, "jax": jax.__version__, "rows": rows}))


def _time_interleaved(calls: dict, rounds: int, min_seconds: float) -> dict:
    names = list(calls)
    repeats = {}
    for name in names:
        calls[name]()
        start = time.perf_counter()
        calls[name]()
        repeats[name] = max(1, int(min_seconds / max(time.perf_counter() - start, 1e-6)))
    samples: dict = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            for _ in range(repeats[name]):
                calls[name]()
            samples[name].append((time.perf_counter() - start) / repeats[name])
    return {n: statistics.median(v) for n, v in samples.items()}


if __name__ == "__main__":
    main(sys.argv[1:])
