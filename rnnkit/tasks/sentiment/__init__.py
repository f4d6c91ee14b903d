"""Sentiment analysis (text classification), optionally from a pre-trained language model.

    rnnkit train sentiment-polarity
    echo "a gorgeous , witty , seductive movie ." | rnnkit predict runs/sentiment-...

See :mod:`rnnkit.tasks.sentiment.task` for the parts and the protocol, :mod:`.pretrain` for the
transfer, :mod:`.baselines` for TF-IDF + logistic regression.
"""

from rnnkit.tasks.sentiment.config import NAMED, PretrainConfig, SentimentConfig, SentimentDataConfig
from rnnkit.tasks.sentiment.data import EncodedTexts, encode_texts, load_texts, split_indices, split_parts
from rnnkit.tasks.sentiment.pretrain import language_model_config, prepare, pretrain_dir
from rnnkit.tasks.sentiment.task import (
    TASK,
    SentimentJob,
    TrainedClassifier,
    build,
    load_classifier,
    predict,
    predict_run,
    report,
)

__all__ = [
    "NAMED",
    "TASK",
    "EncodedTexts",
    "PretrainConfig",
    "SentimentConfig",
    "SentimentDataConfig",
    "SentimentJob",
    "TrainedClassifier",
    "build",
    "encode_texts",
    "language_model_config",
    "load_classifier",
    "load_texts",
    "predict",
    "predict_run",
    "prepare",
    "pretrain_dir",
    "report",
    "split_indices",
    "split_parts",
]
