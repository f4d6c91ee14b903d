"""Models: layers plus heads, each a config dataclass and an ``nn.Module``."""

from rnnkit.models.sequence import RecurrentConfig, SequenceModel, build_recurrent

__all__ = ["RecurrentConfig", "SequenceModel", "build_recurrent"]
