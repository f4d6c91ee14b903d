"""Speech recognition with CTC: audio files in, their transcripts out.

See :mod:`rnnkit.tasks.speech.task`."""

from rnnkit.tasks.speech.config import SpeechConfig, SpeechDataConfig
from rnnkit.tasks.speech.task import (
    TASK,
    Labels,
    SpeechConfig,
    SpeechDataConfig,
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

__all__ = ['TASK', 'Labels', 'SpeechConfig', 'SpeechDataConfig', 'SpeechJob', 'Utterances', 'build', 'compute_features', 'condition_order', 'ctc_loss', 'error_rates', 'load_transcriber', 'load_transcripts', 'mean_ctc_loss', 'plot_posteriors', 'prepare', 'report', 'split', 'transcribe_features', 'transcribe_files']
