"""Sequence to sequence with attention: graphemes to phonemes, translation.

    rnnkit train g2p-cmudict
    echo "rnnkit" | rnnkit translate runs/translate-... --attention rnnkit.png
"""

from rnnkit.tasks.translate.config import TranslateConfig, TranslateDataConfig
from rnnkit.tasks.translate.task import (
    LENGTH_BUCKETS,
    TASK,
    EncodedPairs,
    Sides,
    TranslateJob,
    attention_map,
    bleu_by_length,
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
    sequence_loss,
    teacher_forced_loss,
    token_labels,
    translate_run,
    translate_texts,
)

__all__ = [
    "LENGTH_BUCKETS",
    "TASK",
    "EncodedPairs",
    "Sides",
    "TranslateConfig",
    "TranslateDataConfig",
    "TranslateJob",
    "attention_map",
    "bleu_by_length",
    "bleu_scores",
    "build",
    "decode",
    "g2p_scores",
    "load_pairs",
    "load_translator",
    "metric_of",
    "plot_attention",
    "prepare",
    "report",
    "score",
    "sequence_loss",
    "teacher_forced_loss",
    "token_labels",
    "translate_run",
    "translate_texts",
]
