"""Sentiment analysis (text classification), optionally from a pre-trained language model.

See :mod:`rnnkit.tasks.sentiment.task`."""

from rnnkit.tasks.sentiment.task import (
    NAMED,
    TASK,
    EncodedTexts,
    PretrainConfig,
    SentimentConfig,
    SentimentDataConfig,
    SentimentJob,
    TrainedClassifier,
    build,
    encode_texts,
    language_model_config,
    load_classifier,
    load_texts,
    predict,
    predict_run,
    prepare,
    pretrain_dir,
    report,
    split_parts,
)

__all__ = ['NAMED', 'TASK', 'EncodedTexts', 'PretrainConfig', 'SentimentConfig', 'SentimentDataConfig', 'SentimentJob', 'TrainedClassifier', 'build', 'encode_texts', 'language_model_config', 'load_classifier', 'load_texts', 'predict', 'predict_run', 'prepare', 'pretrain_dir', 'report', 'split_parts']
