"""Polyphonic music generation: a recurrent model of piano rolls, trained on Bach chorales or
your MIDI / MusicXML files.

See :mod:`rnnkit.tasks.music.task`."""

from rnnkit.tasks.music.task import (
    TASK,
    MusicConfig,
    MusicDataConfig,
    MusicJob,
    build,
    frame_nll,
    generate,
    generate_run,
    load_pieces,
    nll_per_frame,
    pad_rolls,
    plot_roll,
    report,
    split_pieces,
    transposed,
    write_sample,
)

__all__ = ['TASK', 'MusicConfig', 'MusicDataConfig', 'MusicJob', 'build', 'frame_nll', 'generate', 'generate_run', 'load_pieces', 'nll_per_frame', 'pad_rolls', 'plot_roll', 'report', 'split_pieces', 'transposed', 'write_sample']
