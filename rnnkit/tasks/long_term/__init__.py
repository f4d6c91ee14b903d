"""Long-term dependencies: the adding problem and the copy-memory task.

See :mod:`rnnkit.tasks.long_term.task`."""

from rnnkit.tasks.long_term.task import (
    TASK,
    CopyModel,
    Job,
    LongTermConfig,
    LongTermDataConfig,
    adding_batch,
    build,
    copy_batch,
    probe,
)

__all__ = ['TASK', 'CopyModel', 'Job', 'LongTermConfig', 'LongTermDataConfig', 'adding_batch', 'build', 'copy_batch', 'probe']
