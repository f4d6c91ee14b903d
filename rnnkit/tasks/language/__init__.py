"""Language modelling and text generation.

See :mod:`rnnkit.tasks.language.task`."""

from rnnkit.tasks.language.task import (
    TASK,
    LanguageConfig,
    LanguageDataConfig,
    LanguageJob,
    build,
    cross_entropy,
    filter_logits,
    generate,
    generate_run,
    load_corpus,
    report,
)

__all__ = ['TASK', 'LanguageConfig', 'LanguageDataConfig', 'LanguageJob', 'build', 'cross_entropy', 'filter_logits', 'generate', 'generate_run', 'load_corpus', 'report']
