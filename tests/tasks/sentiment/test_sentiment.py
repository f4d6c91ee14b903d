"""Sentiment analysis: labelled-text loaders, splits, the text classifier, the transfer from a
language model, and the task end to end (with pre-training, ``rnnkit predict``) on generated text."""

from __future__ import annotations

import csv
import io
import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.models import RecurrentConfig
from rnnkit.cli.main import main
from rnnkit.config import ConfigError
from rnnkit.data.text import LabeledTexts, Vocabulary, read_labeled_texts
from rnnkit.models.language import LanguageModel, LanguageModelConfig
from rnnkit.models.text_classifier import TextClassifier, TextClassifierConfig, transfer_language_model
from rnnkit.tasks import sentiment
from rnnkit.tasks.core import run

WORDS = {"positive": ["good", "great", "lovely", "superb"], "negative": ["bad", "awful", "dull", "poor"],
         "neutral": []}
FILLER = ["the", "film", "a", "plot", "is", "was", "and", "story", "actors", "it", "of", "scene"]


def generated_texts(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Texts of filler words with one sentiment word (or none: neutral) somewhere inside."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = ["positive", "negative", "neutral"][i % 3]
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 12))]
        if WORDS[label]:
            words.insert(rng.randrange(len(words) + 1), rng.choice(WORDS[label]))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def write_csv(path: Path, texts: list[str], labels: list[str], parts: list[str] | None = None) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "stars"] + (["part"] if parts else []))
        for i, (text, label) in enumerate(zip(texts, labels)):
            writer.writerow([text, label] + ([parts[i]] if parts else []))
    return path


def test_read_csv_and_jsonl(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", ["one, with a comma", "two"], ["x", "y"], ["train", "dev"])
    found = read_labeled_texts(tmp_path / "a.csv", "review", "stars", "part")
    assert found.texts == ["one, with a comma", "two"] and found.labels == ["x", "y"]
    assert found.parts == ["train", "validation"]
    (tmp_path / "b.jsonl").write_text('{"t": "héllo", "y": 1}\n\n{"t": "bye", "y": 0}\n', encoding="utf-8")
    found = read_labeled_texts(tmp_path / "b.jsonl", "t", "y")
    assert found.texts == ["héllo", "bye"] and found.labels == ["1", "0"] and found.parts is None
    with pytest.raises(ValueError, match=r"row 1 has no \['text', 'label'\].*it has \['t', 'y'\]"):
        read_labeled_texts(tmp_path / "b.jsonl")
    (tmp_path / "c.jsonl").write_text('{"text": "a", "label": 1}\nnot json\n')
    with pytest.raises(ValueError, match="c.jsonl:2: not a JSON object"):
        read_labeled_texts(tmp_path / "c.jsonl")
    write_csv(tmp_path / "d.csv", ["a"], ["x"], ["holdout"])
    with pytest.raises(ValueError, match=r"column 'part' has \['holdout'\]"):
        read_labeled_texts(tmp_path / "d.csv", "review", "stars", "part")


def test_splits_partition_the_data() -> None:
    texts, labels = generated_texts(300)
    texts = [f"{i} {t}" for i, t in enumerate(texts)]  # unique, so parts can be compared by text
    data = LabeledTexts(texts, labels)
    seen_test = []
    for fold in range(5):
        config = sentiment.SentimentDataConfig(name=None, path="x.csv", folds=5, fold=fold, validation_fraction=0.1)
        parts = sentiment.split_parts(data, config)
        sizes = {k: len(v) for k, v in parts.items()}
        assert sizes["test"] == 60 and sizes["train"] + sizes["val"] == 240 and sizes["val"] == 24
        assert set(parts["test"].texts).isdisjoint(parts["train"].texts + parts["val"].texts)
        assert {l: parts["test"].labels.count(l) for l in WORDS} == {"positive": 20, "negative": 20, "neutral": 20}
        seen_test += parts["test"].texts
    assert sorted(seen_test) == sorted(texts)  # the folds' test parts cover every text once
    parts = sentiment.split_parts(data, sentiment.SentimentDataConfig(name=None, path="x.csv"))
    assert [len(parts[k]) for k in ("train", "val", "test")] == [240, 30, 30]
    with pytest.raises(ValueError, match="data.folds / data.fold"):
        sentiment.SentimentDataConfig(folds=3, fold=3)


def test_encoding_and_padding_leave_each_text_alone() -> None:
    torch.manual_seed(0)
    vocab = Vocabulary.build("a b c d e f", "word")
    ids = sentiment.encode_texts(["a b c", "", "f e d c b a zz"], vocab)
    assert ids[1].tolist() == [0] and ids[2][-1].item() == 0  # an empty text is one <unk>; zz is unknown
    for pooling in ("last", "mean", "max", "attention"):
        model = TextClassifier(len(vocab), 3, TextClassifierConfig(
            RecurrentConfig(hidden_size=8, num_layers=2, bidirectional=True), embedding_size=6, pooling=pooling)).double().eval()
        batch = sentiment.EncodedTexts(ids, np.zeros(3, dtype=np.int64))
        x, lengths, _ = batch.batch(np.arange(3))
        together = model(x, lengths)
        for i in range(3):
            alone = model(ids[i].unsqueeze(1), torch.tensor([len(ids[i])]))
            torch.testing.assert_close(together[i : i + 1], alone, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_transfer_makes_the_forward_direction_the_language_model(num_layers: int) -> None:
    torch.manual_seed(0)
    vocab_size, E, H = 30, 12, 10
    lm = LanguageModel(vocab_size, LanguageModelConfig(RecurrentConfig(hidden_size=H, num_layers=num_layers),
                                                       embedding_size=E, tie_weights=False)).double().eval()
    classifier = TextClassifier(vocab_size, 2, TextClassifierConfig(
        RecurrentConfig(hidden_size=H, num_layers=num_layers, bidirectional=True), embedding_size=E))
    classifier = classifier.double().eval()
    backward_before = {k: v.clone() for k, v in classifier.state_dict().items() if k.endswith("_reverse")}
    names = transfer_language_model(classifier, lm.state_dict())
    assert "embedding.weight" in names and len(names) == 1 + 4 * num_layers
    ids = torch.randint(0, vocab_size, (9, 4))
    lm_hidden, _ = lm.hidden(ids)  # (T, B, H)
    output, _ = classifier.body.recurrent(classifier.embed(ids))  # (T, B, 2H)
    torch.testing.assert_close(output[..., :H], lm_hidden, atol=1e-12, rtol=1e-12)
    for k, v in backward_before.items():  # the backward direction keeps its own initialisation
        assert torch.equal(classifier.state_dict()[k], v)
    with pytest.raises(ValueError, match="expected the same vocabulary"):
        transfer_language_model(TextClassifier(vocab_size + 1, 2, TextClassifierConfig(
            RecurrentConfig(hidden_size=H, bidirectional=True), embedding_size=E)), lm.state_dict())
    with pytest.raises(ValueError, match="expected the same hidden size"):
        transfer_language_model(TextClassifier(vocab_size, 2, TextClassifierConfig(
            RecurrentConfig(hidden_size=H + 1, num_layers=num_layers, bidirectional=True), embedding_size=E)),
            lm.state_dict())


def sentiment_config(tmp_path: Path, data_path: Path, pretrain: dict | None = None) -> object:
    data = {
        "task": "sentiment",
        "data": {"name": None, "path": str(data_path), "text_column": "review", "label_column": "stars",
                 "seed": 1},
        "model": {"recurrent": {"cell": "gru", "hidden_size": 16}, "embedding_size": 16, "pooling": "max"},
        "train": {"steps": 150, "batch_size": 16, "eval_every": 50, "checkpoint_every": 50, "progress": False,
                  "optimizer": {"name": "adam", "lr": 0.01},
                  "early_stopping": {"metric": "val_loss", "restore_best": True}},
    }
    if pretrain:
        data["pretrain"] = pretrain
    return run.resolve_config(data)


@pytest.mark.slow
def test_sentiment_end_to_end_with_pretraining_and_predict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    texts, labels = generated_texts(450)
    data_path = write_csv(tmp_path / "reviews.csv", texts, labels)
    unlabelled = tmp_path / "unlabelled.txt"
    unlabelled.write_text("\n".join(generated_texts(600, seed=5)[0]))
    pretrain = {"enabled": True, "name": None, "path": str(unlabelled), "min_count": 1, "bptt": 20,
                "train": {"steps": 30, "batch_size": 8, "eval_every": 30, "progress": False}}
    config = sentiment_config(tmp_path, data_path, pretrain)
    run_dir, result = run.train(config, tmp_path / "run")
    lm_dir = run_dir / "pretrain" / "forward"
    assert (lm_dir / "summary.json").exists() and (run_dir / "pretrain" / "vocab.json").exists()
    metrics = result.report["metrics"]
    assert metrics["test_accuracy"] >= 0.9, metrics  # the sentiment word decides; the model must find it
    assert result.report["text"].startswith("true \\ predicted")
    assert {"positive", "negative", "neutral"} <= set(result.report["text"].split())
    for name in ("confusion.png", "predictions.csv", "vocab.json", "classes.json", "summary.json"):
        assert (run_dir / name).exists(), name
    # the classifier's vocabulary is the language model's, and the pre-trained embedding was its start
    assert Vocabulary.load(run_dir / "vocab.json").tokens == Vocabulary.load(run_dir / "pretrain" / "vocab.json").tokens

    # rnnkit predict: from a file and from stdin; probabilities add up to one
    capsys.readouterr()
    (tmp_path / "new.txt").write_text("the film was superb\n\nthe plot is awful and dull\n")
    assert main(["predict", str(run_dir), str(tmp_path / "new.txt")]) == 0
    lines = capsys.readouterr().out.strip().split("\n")
    assert lines[0].split("\t") == ["predicted", "p(negative)", "p(neutral)", "p(positive)", "text"]
    rows = [line.split("\t") for line in lines[1:]]
    assert [r[0] for r in rows] == ["positive", "negative"] and [r[-1] for r in rows][1] == "the plot is awful and dull"
    for r in rows:
        assert abs(sum(float(p) for p in r[1:4]) - 1) < 1e-3
    monkeypatch.setattr(sys, "stdin", io.StringIO("a lovely story\n"))
    assert main(["predict", str(run_dir)]) == 0
    assert capsys.readouterr().out.strip().split("\n")[1].startswith("positive\t")
    assert main(["predict", str(run_dir), "--text", "so dull", "--text", "the story"]) == 0
    assert [line.split("\t")[-1] for line in capsys.readouterr().out.strip().split("\n")[1:]] == ["so dull", "the story"]
    classes, probabilities = sentiment.predict_run(run_dir, ["it was poor", "the actors"])
    assert classes == ["negative", "neutral", "positive"] and probabilities.shape == (2, 3)
    assert probabilities[0].argmax().item() == 0

    # a second classifier reuses the trained language model; other model settings are refused
    second = sentiment_config(tmp_path, data_path, {**pretrain, "run_dir": str(run_dir / "pretrain")})
    second.train.steps = 1
    run.train(second, tmp_path / "run2")
    assert not (tmp_path / "run2" / "pretrain").exists()
    other = sentiment_config(tmp_path, data_path, {**pretrain, "run_dir": str(run_dir / "pretrain")})
    other.model.recurrent.hidden_size = 8
    with pytest.raises(ConfigError, match="other settings"):
        run.train(other, tmp_path / "run3")
    other = sentiment_config(tmp_path, data_path, {**pretrain, "run_dir": str(run_dir / "pretrain"),
                                                   "max_vocab": 50})
    with pytest.raises(ConfigError, match="other text or another vocabulary"):
        run.train(other, tmp_path / "run4")


@pytest.mark.slow
def test_user_parts_and_predict_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    texts, labels = generated_texts(240, seed=3)
    parts = ["train"] * 180 + ["validation"] * 30 + ["test"] * 30
    data_path = write_csv(tmp_path / "r.csv", texts, labels, parts)
    config = sentiment_config(tmp_path, data_path)
    config.data.part_column = "part"
    config.train.steps = 20
    job = sentiment.build(config)
    assert [len(job.parts[k].targets) for k in ("train", "val")] == [180, 30] and job.split.test.reads == 0
    assert job.split.test.open().texts == texts[210:]
    run_dir, _ = run.train(config, tmp_path / "run")
    assert json.loads((run_dir / "classes.json").read_text()) == ["negative", "neutral", "positive"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert main(["predict", str(run_dir)]) == 2
    assert "no texts" in capsys.readouterr().err
    assert main(["predict", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_freeze_embedding_keeps_it_out_of_training() -> None:
    from rnnkit.training.optim import trainable

    model = TextClassifier(20, 2, TextClassifierConfig(RecurrentConfig(hidden_size=4, bidirectional=True), embedding_size=3,
                                                       freeze_embedding=True))
    assert not model.embedding.weight.requires_grad
    assert all(p is not model.embedding.weight for p in trainable(model))
    before = model.embedding.weight.clone()
    optimizer = torch.optim.Adam(trainable(model), lr=0.1)
    loss = model(torch.randint(0, 20, (5, 3)), torch.tensor([5, 3, 1])).sum()
    loss.backward()
    optimizer.step()
    assert torch.equal(model.embedding.weight, before)


def test_a_run_starts_from_word_vectors_and_grows_its_vocabulary(tmp_path: Path) -> None:
    """model.embedding: the embedding's rows are the vectors of their words (frozen here: they
    stay so through training), and model.embedding_vocabulary adds the vectors' first words."""
    texts, labels = generated_texts(150)
    data_path = write_csv(tmp_path / "reviews.csv", texts, labels)
    words = ["the", "good", "bad", "zebra", "quixotic", "film"]
    rng = np.random.default_rng(3)
    table = rng.normal(size=(len(words), 16)).astype(np.float32)
    (tmp_path / "v.txt").write_text("\n".join(w + " " + " ".join(f"{v:.6f}" for v in row)
                                              for w, row in zip(words, table)) + "\n")
    config = sentiment_config(tmp_path, data_path)
    config.model.embedding, config.model.embedding_vocabulary = str(tmp_path / "v.txt"), 4
    config.model.freeze_embedding, config.train.steps = True, 3
    job = sentiment.task.build(config)
    assert "zebra" in job.vocab.index and "quixotic" not in job.vocab.index  # the first 4 vector words only
    weight = job.model.embedding.weight.detach().numpy()
    for word in ("the", "good", "bad", "zebra", "film"):
        np.testing.assert_allclose(weight[job.vocab.index[word]], table[words.index(word)], atol=1e-6)
    assert any("it has 5 of the" in note for note in job.data_notes)
    config.model.embedding_size = 8
    with pytest.raises(ValueError, match="the .* vectors are 16-wide: expected 16, got 8"):
        sentiment.task.build(config)
