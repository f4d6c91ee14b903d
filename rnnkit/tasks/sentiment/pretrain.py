"""Pre-training the classifier's language model (transfer: Dai & Le 2015; Howard & Ruder 2018).

Before the classifier trains, a language model with the classifier's embedding and recurrent
stack is trained on unlabelled text (the 1,500 full movie reviews of Pang & Lee 2004 by
default, or your file, or the training texts) in ``pretrain.run_dir`` (default
``<run>/pretrain``; a folder already holding it is reused, a killed pre-training resumes). It
is a run of the ``language`` task, reached through the task registry as a config file would
reach it (applications do not import each other). Its vocabulary becomes the classifier's;
its embedding and stack start the classifier's embedding and forward direction.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rnnkit.config import ConfigError, to_dict
from rnnkit.data.text import Vocabulary, load_movie_reviews, read_text
from rnnkit.files import write_text
from rnnkit.tasks.core import run
from rnnkit.tasks.sentiment.config import SentimentConfig
from rnnkit.tasks.sentiment.data import choose_level, load_texts, split_parts
from rnnkit.training import has_checkpoint


def pretrain_dir(config: SentimentConfig) -> Path:
    if config.pretrain.run_dir is not None:
        return Path(config.pretrain.run_dir)
    if config.run_dir is None:
        raise ConfigError("pretrain.run_dir: expected a folder for the language model (or a run_dir to hold it)")
    return Path(config.run_dir) / "pretrain"


def language_model_config(config: SentimentConfig, text_path: Path, vocab_path: Path, level: str) -> Any:
    """The language task's config for the pre-training (resolved through the task registry, as a
    config file would be): the classifier's embedding and stack, the pre-training's regularizers."""
    model, pretrain = config.model, config.pretrain
    recurrent = {name: getattr(model.recurrent, name) for name in (
        "cell", "hidden_size", "num_layers", "layer_norm", "init", "chrono_max_length", "impl")}
    recurrent.update(dropout=pretrain.dropout, weight_drop=pretrain.weight_drop)  # the pre-training's own
    language_model = {"recurrent": recurrent, "embedding_size": model.embedding_size,
                      **{name: getattr(pretrain, name) for name in (
                          "embedding_dropout", "input_dropout", "output_dropout", "tie_weights")}}
    return run.resolve_config({
        "task": "language",
        "data": {"name": None, "path": os.path.abspath(text_path), "level": level,
                 "vocabulary": os.path.abspath(vocab_path),
                 "bptt": pretrain.bptt, "eval_tokens": 50000},
        "model": language_model,
        "train": to_dict(pretrain.train),
        "sample_length": 60,
    })


def _defining(lm_config: dict[str, Any]) -> dict[str, Any]:
    """What makes a language model what it is (not where it ran, its logging or its progress bar)."""
    train = {k: v for k, v in lm_config["train"].items()
             if k not in ("progress", "log_every", "checkpoint_every", "device", "max_seconds")}
    return {"data": lm_config["data"], "model": lm_config["model"], "train": train}


def prepare(config: SentimentConfig) -> None:
    """Pre-train the language model (once: a folder that holds it is reused, a killed one resumes)."""
    if not config.pretrain.enabled:
        return
    folder = pretrain_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    text_path, vocab_path, lm_dir = folder / "text.txt", folder / "vocab.json", folder / "forward"
    pretrain, data = config.pretrain, config.data
    level, _ = choose_level(data.level, split_parts(load_texts(data), data)["train"].texts)
    source = {"name": pretrain.name, "path": pretrain.path, "level": level, "lowercase": data.lowercase,
              "min_count": pretrain.min_count, "max_vocab": pretrain.max_vocab}
    if pretrain.name is None and pretrain.path is None:  # the training texts: they depend on the split
        source.update(data={k: v for k, v in to_dict(data).items() if k != "max_length"})  # not the text
    source_path = folder / "source.json"
    if source_path.exists() and json.loads(source_path.read_text()) != json.loads(json.dumps(source)):
        raise ConfigError(f"{folder}: holds a language model of other text or another vocabulary "
                          f"({source_path.read_text()}); point pretrain.run_dir at a new folder")
    if not source_path.exists():
        write_text(source_path, json.dumps(source))
    if not text_path.exists():
        if pretrain.name == "reviews":
            text = load_movie_reviews()
        elif pretrain.path is not None:
            text = read_text(pretrain.path)
        else:
            text = "\n".join(split_parts(load_texts(data), data)["train"].texts)
        write_text(text_path, text.lower() if data.lowercase else text)
    if not vocab_path.exists():
        text = text_path.read_text(encoding="utf-8")
        Vocabulary.build(text, level, pretrain.min_count, pretrain.max_vocab).save(vocab_path)
    lm_config = language_model_config(config, text_path, vocab_path, level)
    if (lm_dir / "config.yaml").exists() and _defining(to_dict(run.load_run_config(lm_dir))) != \
            _defining(to_dict(lm_config)):
        raise ConfigError(f"{lm_dir}: holds a language model trained with other settings than this config's "
                              f"model and pretrain sections; point pretrain.run_dir at a new folder")
    if (lm_dir / "summary.json").exists():
        return  # trained
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RuntimeError(f"{lm_dir}: the language model is not trained yet; pre-train it in one process first "
                           f"(rnnkit train CONFIG without torchrun), then run the classifier under torchrun")
    print(f"pre-training a language model in {lm_dir} ...", flush=True)
    if has_checkpoint(lm_dir):
        run.resume(lm_dir)
    else:
        run.train(lm_config, lm_dir)
