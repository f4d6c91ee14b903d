"""Speech recognition with CTC: WAV files and their transcripts in, a bidirectional acoustic model, greedy
or prefix beam search decoding.

    rnnkit train speech-digits
    rnnkit transcribe runs/speech-... one.wav two.wav
"""

from rnnkit.tasks.speech.config import SpeechConfig, SpeechDataConfig
from rnnkit.tasks.speech.task import (
    TASK,
    Labels,
    SpeechJob,
    Utterances,
    build,
    compute_features,
    condition_order,
    ctc_loss,
    error_rates,
    load_transcriber,
    load_transcripts,
    mean_ctc_loss,
    plot_posteriors,
    prepare,
    report,
    split,
    transcribe_features,
    transcribe_files,
)

__all__ = [
    "TASK",
    "Labels",
    "SpeechConfig",
    "SpeechDataConfig",
    "SpeechJob",
    "Utterances",
    "build",
    "compute_features",
    "condition_order",
    "ctc_loss",
    "error_rates",
    "load_transcriber",
    "load_transcripts",
    "mean_ctc_loss",
    "plot_posteriors",
    "prepare",
    "report",
    "split",
    "transcribe_features",
    "transcribe_files",
]
