"""Polyphonic music: a recurrent model of piano rolls (Bach chorales or your MIDI / MusicXML), sampled frame by frame.

    rnnkit train music-chorales
    rnnkit generate runs/music-... --length 64 --seed 1 --out chorale.mid
"""

from rnnkit.tasks.music.config import MusicConfig, MusicDataConfig
from rnnkit.tasks.music.task import (
    TASK,
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

__all__ = [
    "TASK",
    "MusicConfig",
    "MusicDataConfig",
    "MusicJob",
    "build",
    "frame_nll",
    "generate",
    "generate_run",
    "load_pieces",
    "nll_per_frame",
    "pad_rolls",
    "plot_roll",
    "report",
    "split_pieces",
    "transposed",
    "write_sample",
]
