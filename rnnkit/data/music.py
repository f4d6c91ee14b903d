"""Polyphonic music as piano rolls: read MIDI / MusicXML (or the Bach chorales of music21's
corpus), cache the rolls, and write generated rolls back to MIDI.

A piano roll is a ``(T, P)`` array of 0/1: frame ``t`` is the instant ``t * step`` quarter
notes from the start, column ``p`` the MIDI pitch ``low + p``, and a 1 marks a pitch that
sounds at that instant (the JSB Chorales convention: notes sampled at each frame's onset,
one frame per quarter note by default). The default range is the piano's 88 keys, 21-108.

mido reads and writes MIDI, music21 reads MusicXML and the corpus (``pip install
'rnnkit[music]'``); parsing the 371
chorales takes a minute or two, so the rolls are cached as NPZ + JSON (no pickles) under
``~/.cache/rnnkit/music``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rnnkit.data.text import cache_dir, find_files
from rnnkit.extras import require
from rnnkit.files import atomic_open, write_text

LOW, HIGH = 21, 108  # the piano's keys, A0 to C8
SUFFIXES = (".mid", ".midi", ".xml", ".musicxml", ".mxl", ".krn", ".abc")
Transpose = Literal["none", "c"]


@dataclass
class Piece:
    name: str
    roll: np.ndarray  # (T, P) uint8


def _music21() -> Any:
    return require("music21", "reading MusicXML and the chorales")


Note = tuple[float, float, int]  # (start, stop) in quarter notes, MIDI pitch


def score_notes(score: Any) -> list[Note]:
    """The notes of a music21 stream; a chord's notes may last differently."""
    notes = []
    for element in score.flatten().notes:
        start = float(element.offset)
        for note in (element.notes if element.isChord else [element]):
            notes.append((start, start + float(note.quarterLength), note.pitch.midi))
    return notes


def midi_notes(path: str | Path) -> list[Note]:
    """The notes of a MIDI file, read with mido (all tracks; the drum channel 10 left out).
    music21's MIDI reader re-voices overlapping notes and can move them, so it is not used."""
    mido = require("mido", "reading MIDI")

    midi = mido.MidiFile(str(path))
    notes: list[Note] = []
    for track in midi.tracks:
        tick, sounding = 0, {}
        for message in track:
            tick += message.time
            if message.type not in ("note_on", "note_off") or message.channel == 9:
                continue
            key = (message.channel, message.note)
            if message.type == "note_on" and message.velocity > 0:
                sounding.setdefault(key, []).append(tick)
            elif sounding.get(key):
                start = sounding[key].pop(0)
                notes.append((start / midi.ticks_per_beat, tick / midi.ticks_per_beat, message.note))
    return notes


def piano_roll(notes: Sequence[Note], step: float = 1.0, low: int = LOW, high: int = HIGH) -> np.ndarray:
    """The ``(T, high - low + 1)`` roll of ``notes``: pitch ``p`` is on at frame ``t`` when a note of
    that pitch sounds at ``t * step`` (its onset at or before, its end after)."""
    if step <= 0:
        raise ValueError(f"step: expected a positive number of quarter notes, got {step}")
    end = max((stop for _, stop, _ in notes), default=0.0)
    roll = np.zeros((int(np.ceil(end / step - 1e-9)), high - low + 1), dtype=np.uint8)
    for start, stop, pitch in notes:
        first, last = int(np.ceil(start / step - 1e-9)), int(np.ceil(stop / step - 1e-9))  # frames in [start, stop)
        if low <= pitch <= high:
            roll[first:last, pitch - low] = 1
    return roll


def shift_to_c(notes: Sequence[Note]) -> list[Note]:
    """``notes`` moved to C major / C minor by the shortest shift, from music21's key estimate
    (Krumhansl-Schmuckler profiles)."""
    music21 = _music21()
    stream = music21.stream.Stream()
    for start, stop, pitch in notes:
        note = music21.note.Note(pitch)
        note.quarterLength = max(stop - start, 1 / 16)
        stream.insert(start, note)
    semitones = -stream.analyze("key").tonic.pitchClass % 12
    semitones = semitones - 12 if semitones > 6 else semitones
    return [(start, stop, pitch + semitones) for start, stop, pitch in notes]


def _roll_of(notes: Sequence[Note], step: float, low: int, high: int, transpose: Transpose) -> np.ndarray:
    return piano_roll(shift_to_c(notes) if transpose == "c" else notes, step, low, high)


def _cached(key: dict[str, Any], make: Any) -> list[Piece]:
    """Pieces from the cache named by ``key``'s hash, else ``make()`` saved there (temp, rename)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_dir() / "music"
    rolls_path, names_path = folder / f"{digest}.npz", folder / f"{digest}.json"
    if rolls_path.exists() and names_path.exists():
        names = json.loads(names_path.read_text())["names"]
        with np.load(rolls_path, allow_pickle=False) as data:
            frames, lengths = data["frames"], data["lengths"]
        splits = np.cumsum(lengths)[:-1]
        return [Piece(n, r) for n, r in zip(names, np.split(frames, splits))]
    pieces = make()
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_open(rolls_path, "wb") as handle:
        np.savez_compressed(handle, frames=np.concatenate([p.roll for p in pieces]),
                            lengths=np.array([len(p.roll) for p in pieces]))
    write_text(names_path, json.dumps({"key": key, "names": [p.name for p in pieces]}))
    return pieces


def load_chorales(step: float = 1.0, low: int = LOW, high: int = HIGH, transpose: Transpose = "none",
                  progress: bool = True) -> list[Piece]:
    """The Bach chorales of music21's corpus (371) as piano rolls, parsed once and cached."""

    def make() -> list[Piece]:
        music21 = _music21()
        from tqdm import tqdm

        pieces = []
        chorales = music21.corpus.chorales.Iterator(returnType="filename")
        for name in tqdm(list(chorales), desc="parsing chorales (once)", disable=not progress):
            roll = _roll_of(score_notes(music21.corpus.parse(name)), step, low, high, transpose)
            if len(roll):
                pieces.append(Piece(str(name), roll))
        return pieces

    return _cached({"set": "chorales", "step": step, "low": low, "high": high, "transpose": transpose}, make)


def music_files(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    return find_files(paths, SUFFIXES, "music files")


def read_music(paths: str | Path | Sequence[str | Path], step: float = 1.0, low: int = LOW, high: int = HIGH,
               transpose: Transpose = "none") -> list[Piece]:
    """Your MIDI / MusicXML files (a file, several, or a folder searched recursively) as piano rolls,
    cached by the files' paths, sizes and modification times."""
    files = music_files(paths)
    key = {"files": [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime] for f in files], "step": step,
           "low": low, "high": high, "transpose": transpose}

    def make() -> list[Piece]:
        pieces = []
        for f in files:
            try:
                notes = midi_notes(f) if f.suffix.lower() in (".mid", ".midi") else \
                    score_notes(_music21().converter.parse(str(f)))
            except (RuntimeError, FileNotFoundError):
                raise
            except Exception as error:  # the readers raise many kinds; name the file that failed
                raise ValueError(f"{f}: could not be read as music ({type(error).__name__}: {error})") from None
            roll = _roll_of(notes, step, low, high, transpose)
            if len(roll) < 2:
                raise ValueError(f"{f}: expected at least 2 frames of notes at step {step}, got {len(roll)}")
            pieces.append(Piece(f.name, roll))
        return pieces

    return _cached(key, make)


def runs_of(column: np.ndarray) -> Iterable[tuple[int, int]]:
    """``(start, stop)`` of each run of ones in a 0/1 vector."""
    padded = np.concatenate([[0], column.astype(np.int8), [0]])
    changes = np.flatnonzero(np.diff(padded))
    return zip(changes[::2], changes[1::2])


def write_midi(roll: np.ndarray, path: str | Path, step: float = 1.0, low: int = LOW, tempo: float = 80.0,
               velocity: int = 80) -> Path:
    """A piano roll ``(T, P)`` as a one-track MIDI file (with mido): each run of frames holding a
    pitch is one note (a roll cannot tell a held note from a repeated one); ``tempo`` in quarter
    notes per minute. Written to a temporary name, then renamed."""
    mido = require("mido", "writing MIDI")
    ticks = 480  # per quarter note
    events = []  # (tick, order, message): note-offs before note-ons at the same tick
    for p in range(roll.shape[1]):
        for start, stop in runs_of(roll[:, p]):
            events.append((int(round(start * step * ticks)), 1, "note_on", low + p))
            events.append((int(round(stop * step * ticks)), 0, "note_off", low + p))
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo), time=0)])
    now = 0
    for tick, _, kind, pitch in sorted(events):
        track.append(mido.Message(kind, note=pitch, velocity=velocity if kind == "note_on" else 0, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        mido.MidiFile(tracks=[track], ticks_per_beat=ticks).save(file=handle)
    return path
