"""Language modelling and text generation: a recurrent language model on your text, sampled one token at a time.

    rnnkit train lm-shakespeare
    rnnkit generate runs/language-... --prompt "ROMEO:" --length 400 --temperature 0.8

See :mod:`rnnkit.tasks.language.task` for the blocks and the protocol, :mod:`.ngram` for the
Kneser-Ney baseline, :mod:`.stream` for generation as streams (a server's sessions).
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
    load_generator,
    report,
)
from rnnkit.tasks.language.stream import Advance, TextStream, advance_many

__all__ = [
    "TASK",
    "Advance",
    "TextStream",
    "advance_many",
    "load_generator",
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
