"""Pure functions: one step of each recurrence (the reference) and sequence helpers."""

from rnnkit.functional.conv import conv_gru_recurrence, conv_lstm_recurrence, conv_projection
from rnnkit.functional.recurrences import (
    gate_layer_norm,
    gate_projection,
    gru_recurrence,
    lstm_recurrence,
    rnn_recurrence,
)
from rnnkit.functional.regularizers import (
    activation_regularization,
    bernoulli_mask,
    dropout_mask,
    embedding_dropout,
    locked_dropout,
    spec_augment,
    temporal_activation_regularization,
    weight_drop,
    zoneout,
    zoneout_blend,
    zoneout_keep,
)
from rnnkit.functional.sequence import (
    last_valid,
    sequence_summary,
    mask_from_lengths,
    reverse_padded,
    select_state,
    tree_map,
)

__all__ = [
    "activation_regularization",
    "bernoulli_mask",
    "conv_gru_recurrence",
    "conv_lstm_recurrence",
    "conv_projection",
    "dropout_mask",
    "embedding_dropout",
    "locked_dropout",
    "spec_augment",
    "temporal_activation_regularization",
    "weight_drop",
    "zoneout",
    "zoneout_blend",
    "zoneout_keep",
    "gate_layer_norm",
    "gate_projection",
    "gru_recurrence",
    "last_valid",
    "sequence_summary",
    "lstm_recurrence",
    "mask_from_lengths",
    "reverse_padded",
    "rnn_recurrence",
    "select_state",
    "tree_map",
]
