"""Which application runs which task: the ``task:`` key of a config names an entry here.

The table maps a task name to the module that defines it and a one-line summary. Nothing is
imported until a task is asked for (:func:`get`), and then only that one application: listing
the tasks, or running one, never loads the others. Each application module defines ``TASK``,
a :class:`Task`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# name -> (module defining TASK, summary)
TASKS: dict[str, tuple[str, str]] = {
    "adding": ("rnnkit.tasks.long_term", "the adding problem (long-term dependencies)"),
    "copy": ("rnnkit.tasks.long_term", "the copy-memory task (long-term dependencies)"),
    "forecast": ("rnnkit.tasks.forecast", "multi-step forecasting with a rolling-origin backtest"),
    "anomaly": ("rnnkit.tasks.anomaly", "anomaly detection in sensor data (RNN forecaster or autoencoder)"),
    "classify": ("rnnkit.tasks.classify", "sequence classification (sensors, speech, shapes)"),
    "language": ("rnnkit.tasks.language", "language modelling and text generation"),
    "sentiment": ("rnnkit.tasks.sentiment",
                  "sentiment analysis (text classification), optionally from a pre-trained language model"),
    "music": ("rnnkit.tasks.music", "polyphonic music generation (piano rolls of MIDI or MusicXML)"),
    "translate": ("rnnkit.tasks.translate", "sequence to sequence with attention (graphemes to phonemes, translation)"),
    "speech": ("rnnkit.tasks.speech", "speech recognition with CTC (WAV files and their transcripts)"),
    "video_caption": ("rnnkit.tasks.video.caption",
                      "video captioning: frames to a sentence (CNN + LSTM encoder, attention decoder)"),
    "video_action": ("rnnkit.tasks.video.action",
                     "action recognition from frames (LRCN or ConvLSTM; Moving MNIST motions or your clips)"),
    "video_prediction": ("rnnkit.tasks.video.prediction",
                         "video frame prediction and generation (ConvLSTM; Moving MNIST or your clips)"),
}


@dataclass(frozen=True)
class Task:
    """What an application gives the runner (:mod:`rnnkit.tasks.core.run`).

    ``build(config, rank) -> job``: the job has ``model``, ``step_fn``, ``batches`` and
    ``evaluate`` for :func:`rnnkit.training.fit`. ``report(job, run_dir) -> dict``: after
    training, the task's account of the trained model (test metrics, files). ``prepare(config)``:
    once, on the main process, before any rank builds (caches, a pre-trained model).
    ``baselines(job) -> Candidates``: the standard methods to run beside the model on the same
    parts, after the report (see :mod:`rnnkit.tasks.core.baselines`). ``search_space``: what
    ``rnnkit tune`` searches for this task beyond the common entries (see :mod:`rnnkit.tasks.core.tune`).
    ``export(job, streaming) -> ExportSpec``: the trained model's inputs and outputs for ``rnnkit export``
    (see :mod:`rnnkit.tasks.core.export`).
    """

    config: type
    build: Callable[..., Any]
    report: Callable[..., dict[str, Any]] | None = None
    prepare: Callable[[Any], None] | None = None
    baselines: Callable[[Any], Any] | None = None
    search_space: dict[str, dict[str, Any]] | None = None  # rnnkit tune: added to (or replacing) its COMMON space
    export: Callable[[Any, bool], Any] | None = None  # rnnkit export: (job, streaming) -> ExportSpec (core.export)


def names() -> list[str]:
    return sorted(TASKS)


def summary(name: str) -> str:
    return TASKS[_check(name)][1]


def get(name: Any) -> Task:
    """The :class:`Task` of ``name``, importing its application."""
    module = importlib.import_module(TASKS[_check(name)][0])
    return module.TASK


def _check(name: Any) -> str:
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"task: expected one of {names()}, got {name!r}")
    return name
