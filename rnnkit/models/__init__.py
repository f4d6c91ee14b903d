"""Models: layers plus heads, each a config dataclass and an ``nn.Module``."""

from rnnkit.models.sequence import RecurrentConfig, SequenceModel, SequenceModelConfig, build_recurrent

__all__ = ["RecurrentConfig", "SequenceModel", "SequenceModelConfig", "build_recurrent"]
