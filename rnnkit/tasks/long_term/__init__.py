"""Long-term dependencies: the adding problem and the copy-memory task (tasks ``adding`` and ``copy``).

    rnnkit train adding --set data.length=200 --set model.recurrent.cell=gru
"""

from rnnkit.tasks.long_term.config import LongTermConfig, LongTermDataConfig
from rnnkit.tasks.long_term.task import (
    SOLVED,
    TASK,
    CopyModel,
    Job,
    adding_batch,
    build,
    copy_batch,
    probe,
    report,
    solved,
)

__all__ = [
    "SOLVED",
    "TASK",
    "CopyModel",
    "Job",
    "LongTermConfig",
    "LongTermDataConfig",
    "adding_batch",
    "build",
    "copy_batch",
    "probe",
    "report",
    "solved",
]
