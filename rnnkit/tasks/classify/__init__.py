"""Sequence classification: actions from sensors, speakers, gestures, shapes.

See :mod:`rnnkit.tasks.classify.task`."""

from rnnkit.tasks.classify.task import (
    TASK,
    ClassifyConfig,
    ClassifyDataConfig,
    ClassifyJob,
    Encoded,
    build,
    load_splits,
    report,
)

__all__ = ['TASK', 'ClassifyConfig', 'ClassifyDataConfig', 'ClassifyJob', 'Encoded', 'build', 'load_splits', 'report', 'test_report']
