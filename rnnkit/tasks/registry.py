"""Which config file runs which task: the ``task:`` key of a config names an entry here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from rnnkit.tasks import anomaly, classify, forecast, language, long_term, music, sentiment, speech, translate


@dataclass(frozen=True)
class TaskEntry:
    config_class: type
    build: Callable[..., Any]  # (config, rank) -> Job with model, step_fn, batches, evaluate
    summary: str
    report: Callable[..., dict[str, Any]] | None = None  # (job, run_dir) -> test metrics, files; after training
    prepare: Callable[[Any], None] | None = None  # (config) -> None; before build, on the main process


TASKS: dict[str, TaskEntry] = {
    "adding": TaskEntry(long_term.LongTermConfig, long_term.build, "the adding problem (long-term dependencies)"),
    "copy": TaskEntry(long_term.LongTermConfig, long_term.build, "the copy-memory task (long-term dependencies)"),
    "forecast": TaskEntry(forecast.ForecastConfig, forecast.build, "multi-step forecasting with a rolling-origin "
                          "backtest", forecast.report),
    "anomaly": TaskEntry(anomaly.AnomalyConfig, anomaly.build, "anomaly detection in sensor data (RNN forecaster "
                         "or autoencoder)", anomaly.report),
    "classify": TaskEntry(classify.ClassifyConfig, classify.build, "sequence classification (sensors, speech, "
                          "shapes)", classify.report),
    "language": TaskEntry(language.LanguageConfig, language.build, "language modelling and text generation",
                          language.report),
    "sentiment": TaskEntry(sentiment.SentimentConfig, sentiment.build, "sentiment analysis (text classification), "
                           "optionally from a pre-trained language model", sentiment.report, sentiment.prepare),
    "music": TaskEntry(music.MusicConfig, music.build, "polyphonic music generation (piano rolls of MIDI or "
                       "MusicXML)", music.report),
    "translate": TaskEntry(translate.TranslateConfig, translate.build, "sequence to sequence with attention "
                           "(graphemes to phonemes, translation)", translate.report, translate.prepare),
    "speech": TaskEntry(speech.SpeechConfig, speech.build, "speech recognition with CTC (WAV files and their "
                        "transcripts)", speech.report, speech.prepare),
}


def task_entry(name: Any) -> TaskEntry:
    if name not in TASKS:
        raise ValueError(f"task: expected one of {sorted(TASKS)}, got {name!r}")
    return TASKS[name]
