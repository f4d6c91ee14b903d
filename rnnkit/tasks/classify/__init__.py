"""Sequence classification: actions from sensors, speakers, gestures, shapes.

    rnnkit train classify-basicmotions      # a preset; rnnkit presets lists the others

See :mod:`rnnkit.tasks.classify.task` for the parts and the protocol, :mod:`.baselines` for 1-NN DTW.
"""

from rnnkit.tasks.classify.config import ClassifyConfig, ClassifyDataConfig
from rnnkit.tasks.classify.task import TASK, ClassifyJob, Encoded, build, load_parts, report

__all__ = ["TASK", "ClassifyConfig", "ClassifyDataConfig", "ClassifyJob", "Encoded", "build", "load_parts", "report"]
