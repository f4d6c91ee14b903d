"""Sequence to sequence: grapheme-to-phoneme conversion and translation with an attentional
encoder-decoder (:mod:`rnnkit.models.seq2seq`).

See :mod:`rnnkit.tasks.translate.task`."""

from rnnkit.tasks.translate.config import TranslateConfig, TranslateDataConfig
from rnnkit.tasks.translate.task import (
    TASK,
    EncodedPairs,
    Sides,
    TranslateConfig,
    TranslateDataConfig,
    TranslateJob,
    attention_map,
    bleu_scores,
    build,
    decode,
    g2p_scores,
    load_pairs,
    load_translator,
    metric_of,
    plot_attention,
    prepare,
    report,
    score,
    LENGTH_BUCKETS,
    bleu_by_length,
    sequence_loss,
    teacher_forced_loss,
    token_labels,
    translate_run,
    translate_texts,
)

__all__ = ['LENGTH_BUCKETS', 'TASK', 'bleu_by_length', 'EncodedPairs', 'Sides', 'TranslateConfig', 'TranslateDataConfig', 'TranslateJob', 'attention_map', 'bleu_scores', 'build', 'decode', 'g2p_scores', 'load_pairs', 'load_translator', 'metric_of', 'plot_attention', 'prepare', 'report', 'score', 'sequence_loss', 'teacher_forced_loss', 'token_labels', 'translate_run', 'translate_texts']
