"""Sequence classification: padding and batch independence for every pooling and front end,
pooling by hand, and the task end to end on generated NPZ and long-format CSV files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.cli.main import main as cli
from rnnkit.config import from_dict
from rnnkit.data.sequences import SequenceSet, save_npz
from rnnkit.models import RecurrentConfig
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks import classify
from rnnkit.tasks.core import run
from rnnkit.tasks.core.metrics import classification_scores


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("conv", [0, 6])
def test_each_sequence_is_classified_as_if_alone(pooling, bidirectional, conv):
    """Padding and batch neighbours change nothing: the batch's logits == each sequence alone."""
    torch.manual_seed(0)
    config = ClassifierConfig(RecurrentConfig(cell="gru", hidden_size=5, bidirectional=bidirectional),
                              pooling=pooling, conv_channels=conv, conv_kernel=3, conv_layers=2,
                              conv_pool=2 if conv else 1)
    model = SequenceClassifier(3, 4, config).double().eval()
    lengths = torch.tensor([7, 3, 5])
    x = torch.randn(7, 3, 3, dtype=torch.float64)
    batched = model(x, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone = model(x[:n, b : b + 1], lengths[b : b + 1])
        torch.testing.assert_close(batched[b : b + 1], alone, rtol=0, atol=1e-12)


def test_mean_pooling_by_hand():
    torch.manual_seed(0)
    model = SequenceClassifier(2, 3, ClassifierConfig(RecurrentConfig(cell="lstm", hidden_size=4))).double()
    x, lengths = torch.randn(5, 2, 2, dtype=torch.float64), torch.tensor([5, 2])
    output, _ = model.recurrent(x, lengths=lengths)
    expected = torch.stack([output[:5, 0].mean(0), output[:2, 1].mean(0)])
    torch.testing.assert_close(model(x, lengths), model.head(expected))


def test_classifier_config_errors():
    with pytest.raises(ValueError, match="odd positive width"):
        ClassifierConfig(conv_kernel=4)
    with pytest.raises(ValueError, match="conv_pool"):
        ClassifierConfig(conv_pool=0)


def test_classification_scores_by_hand():
    scores = classification_scores(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert scores["accuracy"] == 0.75
    assert scores["confusion"] == [[1, 1], [0, 2]]
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)  # F1(a) = 2/3, F1(b) = 0.8


def make_sequences(n, seed):
    """Two classes: a slow rising sine (``up``) or a fast square wave (``wave``), lengths 12..30."""
    rng = np.random.default_rng(seed)
    sequences, labels = [], []
    for i in range(n):
        length = int(rng.integers(12, 31))
        t = np.arange(length)
        if i % 3 == 0:  # an imbalanced set: a third are waves
            values = np.sign(np.sin(t * 1.3 + rng.uniform(0, 6)))
            labels.append("wave")
        else:
            values = np.sin(t / 6 + rng.uniform(0, 1)) + t / 20
            labels.append("up")
        noisy = values[:, None] + 0.1 * rng.standard_normal((length, 2))
        sequences.append(noisy.astype(np.float32))
    return SequenceSet(sequences, np.array(labels))


def tiny_config(path, test_path=None, bidirectional=True, **model):
    return from_dict(classify.ClassifyConfig, {
        "task": "classify",
        "data": {"name": None, "path": str(path), "test_path": None if test_path is None else str(test_path),
                 "validation_fraction": 0.2, "class_weights": True},
        "model": {"recurrent": {"cell": "gru", "hidden_size": 16, "bidirectional": bidirectional}, **model},
        "train": {"steps": 120, "batch_size": 16, "eval_every": 40, "progress": False,
                  "optimizer": {"name": "adam", "lr": 0.01},
                  "early_stopping": {"metric": "val_loss", "patience": 10, "restore_best": True}},
    })


@pytest.mark.slow
def test_classify_task_end_to_end_from_npz(tmp_path, capsys):
    save_npz(make_sequences(90, 0), tmp_path / "train.npz")
    save_npz(make_sequences(45, 1), tmp_path / "test.npz")
    config = tiny_config(tmp_path / "train.npz", tmp_path / "test.npz", pooling="attention", conv_channels=8,
                         conv_kernel=3)
    run_dir, result = run.train(config, tmp_path / "run")
    assert result.report["metrics"]["test_accuracy"] >= 0.9
    assert result.report["classes"] == ["up", "wave"]
    assert sum(map(sum, result.report["confusion"])) == 45
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert len(predictions) == 45 and set(predictions["true"]) == {"up", "wave"}
    assert (run_dir / "confusion.png").exists()
    assert cli(["evaluate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "val_accuracy" in out and "test_accuracy" in out  # recomputed on validation; the report's test


def test_classify_task_from_long_csv_with_a_held_out_fraction(tmp_path):
    data = make_sequences(60, 2)
    rows = [{"series_id": i, "t": t, "x0": s[t, 0], "x1": s[t, 1], "label": label}
            for i, (s, label) in enumerate(zip(data.sequences, data.labels)) for t in range(len(s))]
    pd.DataFrame(rows).sample(frac=1.0, random_state=0).to_csv(tmp_path / "long.csv", index=False)  # rows shuffled
    config = tiny_config(tmp_path / "long.csv", pooling="last", bidirectional=True)
    config.train.steps = 30
    job = classify.build(config)
    assert "test" not in job.parts and job.split.test.reads == 0  # sealed until the report
    assert len(job.test_part().targets) == 15 and len(job.parts["val"].targets) == 9
    assert job.model.recurrent.bidirectional


def test_unknown_test_labels_are_refused(tmp_path):
    train = make_sequences(12, 0)
    test = SequenceSet(train.sequences[:2], np.array(["up", "sideways"]))
    save_npz(train, tmp_path / "train.npz")
    save_npz(test, tmp_path / "test.npz")
    job = classify.build(tiny_config(tmp_path / "train.npz", tmp_path / "test.npz"))  # the test file is unread
    with pytest.raises(ValueError, match=r"test labels \['sideways'\] never occur"):
        job.test_part()


def test_the_dtw_baseline_leaves_torchs_thread_count_alone():
    """aeon's numba resizes the OpenMP pool it shares with torch; a 1-thread process (a benchmark,
    a tour beside another job) ran every later torch op 8x slower on 2 oversubscribed threads."""
    from rnnkit.tasks.classify.baselines import one_nn_dtw

    pytest.importorskip("aeon")
    rng = np.random.default_rng(0)
    train = SequenceSet([rng.normal(size=(30, 2)) + k for k in range(4)], np.array([0, 1, 0, 1]))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        predicted = one_nn_dtw(train, [rng.normal(size=(30, 2)) * 0.01 + 3])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert [int(p) for p in predicted] == [1]  # nearest to the training sequence at offset 3, labelled 1
