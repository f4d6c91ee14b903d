"""Language modelling and text generation: a recurrent language model on your text, sampled one token at a time.

    rnnkit train lm-shakespeare
    rnnkit generate runs/language-... --prompt "ROMEO:" --length 400 --temperature 0.8

See :mod:`rnnkit.tasks.language.task` for the blocks and the protocol, :mod:`.ngram` for the
Kneser-Ney baseline.
"""

from rnnkit.tasks.language.config import LanguageConfig, LanguageDataConfig
from rnnkit.tasks.language.task import (
    TASK,
    LanguageJob,
    TestBlock,
    build,
    cross_entropy,
    filter_logits,
    generate,
    generate_run,
    load_corpus,
    report,
)

__all__ = [
    "TASK",
    "LanguageConfig",
    "LanguageDataConfig",
    "LanguageJob",
    "TestBlock",
    "build",
    "cross_entropy",
    "filter_logits",
    "generate",
    "generate_run",
    "load_corpus",
    "report",
]
