"""Polyphonic music: piano rolls from notes and files, MIDI round trips, the NLL measure by
hand, streaming generation against the whole-sequence model, and the task end to end on
generated MIDI files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.models import RecurrentConfig
from rnnkit.cli.main import main
from rnnkit.data.music import piano_roll, read_music, runs_of, shift_to_c, write_midi
from rnnkit.models.music import MusicModel, MusicModelConfig
from rnnkit.tasks import music
from rnnkit.tasks.core import run

pytest.importorskip("mido")


def test_piano_roll_samples_notes_at_frame_onsets() -> None:
    notes = [(0.0, 2.0, 60), (0.5, 1.0, 64), (1.0, 1.5, 67), (2.0, 3.0, 200), (2.5, 3.0, 10)]
    roll = piano_roll(notes, step=1.0, low=60, high=71)
    assert roll.shape == (3, 12)
    assert [list(np.flatnonzero(f) + 60) for f in roll] == [[60], [60, 67], []]  # 64 sounds between onsets only
    fine = piano_roll(notes, step=0.5, low=60, high=71)
    assert [list(np.flatnonzero(f) + 60) for f in fine] == [[60], [60, 64], [60, 67], [60], [], []]
    with pytest.raises(ValueError, match="step: expected a positive"):
        piano_roll(notes, step=0)
    assert list(runs_of(np.array([1, 1, 0, 1, 0, 0, 1]))) == [(0, 2), (3, 4), (6, 7)]


def test_midi_round_trip_and_transposition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    roll = (rng.random((40, 88)) < 0.05).astype(np.uint8)
    path = write_midi(roll, tmp_path / "a.mid", step=0.5)
    back = read_music(path, step=0.5)[0].roll
    np.testing.assert_array_equal(back[: len(roll)], roll)
    assert not back[len(roll):].any()  # nothing after the last note-off
    # a G major scale moves to C major (up a fourth, the shorter way)
    g_major = [(float(i), float(i + 1), p) for i, p in enumerate([67, 69, 71, 72, 74, 76, 78, 79, 74, 71, 67])]
    assert [p for _, _, p in shift_to_c(g_major)] == [p + 5 for _, _, p in g_major]
    (tmp_path / "bad.mid").write_bytes(b"not a midi file")
    with pytest.raises(ValueError, match="bad.mid: could not be read as music"):
        read_music(tmp_path / "bad.mid")


def test_nll_per_frame_by_hand() -> None:
    torch.manual_seed(0)
    targets = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 0.0]]])  # (T=3, B=1, P=2)
    logits = torch.tensor([[[0.5, -1.0]], [[2.0, 0.0]], [[9.0, 9.0]]])
    model = MusicModel(2, MusicModelConfig(RecurrentConfig(hidden_size=2)))
    with torch.no_grad():  # an output layer that passes its features through: they are the logits
        model.head.linear.weight.copy_(torch.eye(2))
        model.head.linear.bias.zero_()
    nll, frames = music.frame_nll(model, logits, targets, torch.tensor([2]))  # the third frame is padding
    sig = lambda x: 1 / (1 + math.exp(-x))
    by_hand = -(math.log(sig(0.5)) + math.log(1 - sig(-1.0)) + math.log(sig(2.0)) + math.log(sig(0.0)))
    assert frames == 2 and abs(nll.item() - by_hand) < 1e-6


def test_inputs_are_targets_shifted_by_one_frame() -> None:
    a, b = np.eye(3, dtype=np.uint8), np.ones((2, 3), dtype=np.uint8)
    inputs, targets, lengths = music.pad_rolls([a, b])
    assert lengths.tolist() == [3, 2]
    assert inputs[0].abs().sum() == 0  # a silent start frame
    torch.testing.assert_close(inputs[1:], targets[:-1])
    np.testing.assert_array_equal(music.transposed(a, 1), [[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(music.transposed(a, -1), [[0, 0, 0], [1, 0, 0], [0, 1, 0]])


@pytest.mark.parametrize("cell,output", [("rnn", "independent"), ("lstm", "independent"), ("gru", "independent"),
                                         ("lstm", "nade")])
def test_stepping_equals_the_sequence(cell: str, output: str) -> None:
    """Generation streams one frame at a time: its per-step features equal the whole-sequence pass
    (for either output: the features are the recurrence's, whatever reads them)."""
    torch.manual_seed(0)
    config = MusicModelConfig(RecurrentConfig(cell=cell, hidden_size=12, num_layers=2), output=output, nade_hidden=6)
    model = MusicModel(10, config).double().eval()
    frames = torch.bernoulli(torch.full((7, 3, 10), 0.3, dtype=torch.float64))
    whole, _ = model(frames)
    state, steps = None, []
    for t in range(7):
        logits, state = model.step(frames[t], state)
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps), whole, atol=1e-12, rtol=1e-12)
    # and a batch is each piece on its own: lengths keep the padding out
    lengths = torch.tensor([7, 4, 2])
    batched, _ = model(frames, lengths=lengths)
    for b in range(3):
        alone, _ = model(frames[: lengths[b], b : b + 1])
        torch.testing.assert_close(batched[: lengths[b], b : b + 1], alone, atol=1e-12, rtol=1e-12)


def test_generate_is_seeded_and_primed() -> None:
    torch.manual_seed(0)
    model = MusicModel(16, MusicModelConfig(RecurrentConfig(hidden_size=8)))
    a = music.generate(model, 20, seed=3)
    assert a.shape == (20, 16) and set(np.unique(a)) <= {0, 1}
    np.testing.assert_array_equal(a, music.generate(model, 20, seed=3))
    prime = np.zeros((5, 16), dtype=np.uint8)
    prime[:, 3] = 1
    b = music.generate(model, 4, seed=1, prime=prime)
    assert b.shape == (9, 16) and (b[:5] == prime).all()
    with pytest.raises(ValueError, match=r"prime: expected a roll \(T, 16\)"):
        music.generate(model, 4, prime=np.zeros((3, 15)))


def chord_pieces(folder: Path, count: int) -> None:
    """Pieces that cycle through the chords C, F, G, C (four notes each, one frame per quarter)."""
    folder.mkdir()
    cycle = [[48, 60, 64, 67], [53, 60, 65, 69], [55, 62, 67, 71], [48, 60, 64, 72]]
    rng = np.random.default_rng(0)
    for i in range(count):
        start = int(rng.integers(0, 4))
        roll = np.zeros((int(rng.integers(12, 24)), 88), dtype=np.uint8)
        for t in range(len(roll)):
            roll[t, np.array(cycle[(start + t) % 4]) - 21] = 1
        write_midi(roll, folder / f"piece{i:02d}.mid")


@pytest.mark.slow
def test_music_task_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    chord_pieces(tmp_path / "midi", 20)
    config = run.resolve_config({
        "task": "music",
        "data": {"name": None, "path": str(tmp_path / "midi"), "low": 36, "high": 83, "validation_fraction": 0.15,
                 "test_fraction": 0.15, "augment": 0},
        "model": {"recurrent": {"cell": "gru", "hidden_size": 32}},
        "train": {"steps": 150, "batch_size": 8, "eval_every": 50, "progress": False,
                  "optimizer": {"name": "adam", "lr": 0.01},
                  "early_stopping": {"metric": "val_nll", "restore_best": True}},
        "sample_length": 16,
    })
    run_dir, result = run.train(config, tmp_path / "run")
    metrics = result.report["metrics"]
    # After the first frame the next chord is certain; a 48-pitch roll at chance costs 48 ln 2 = 33 nats.
    assert metrics["test_nll"] < 3.0, metrics
    assert (run_dir / "sample.mid").exists() and (run_dir / "sample.png").exists()
    sample = read_music(run_dir / "sample.mid", low=36, high=83)[0].roll
    assert 4 <= sample.sum(1).max() <= 6  # it learned four-note chords
    assert main(["generate", str(run_dir), "--length", "8", "--seed", "2", "--out", str(tmp_path / "g.mid"),
                 "--prime", str(tmp_path / "midi" / "piece00.mid"), "--prime-frames", "3"]) == 0
    assert "g.mid" in capsys.readouterr().out and (tmp_path / "g.png").exists()
    generated = read_music(tmp_path / "g.mid", low=36, high=83)[0].roll
    primed = read_music(tmp_path / "midi" / "piece00.mid", low=36, high=83)[0].roll[:3]
    np.testing.assert_array_equal(generated[:3], primed)
