"""Classification results shared by the applications that classify (sequences, texts): loss,
accuracy and macro F1 of a part, logits in batches, the confusion matrix as text and plot, and
the test report with ``predictions.csv``.

A *part* is anything with ``targets`` ``(N,)`` and ``batch(index) -> (inputs..., y)``, whose
inputs the model takes as ``model(x, lengths)``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.files import atomic_open
from rnnkit.tasks.core.metrics import classification_scores
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.training import model_device


def evaluate_parts(model: nn.Module, parts: dict[str, Any], num_classes: int) -> dict[str, float]:
    """``{part}_loss``, ``{part}_accuracy`` and ``{part}_macro_f1`` of each part (anything with
    ``batch(index) -> (x, lengths, y)`` and ``targets``, like the classify task's encoded parts)."""
    scores = {}
    for name, part in parts.items():
        logits = predict_logits(model, part)
        scores[f"{name}_loss"] = F.cross_entropy(logits, torch.from_numpy(part.targets)).item()
        metrics = classification_scores(part.targets, logits.argmax(-1).numpy(), range(num_classes))
        scores[f"{name}_accuracy"], scores[f"{name}_macro_f1"] = metrics["accuracy"], metrics["macro_f1"]
    return scores


def predict_logits(model: nn.Module, part: Any, batch_size: int = 256) -> Tensor:
    """Logits ``(N, K)`` of every sequence of ``part``, in eval mode, on the model's device."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(part.targets), batch_size):
            x, lengths, _ = part.batch(np.arange(start, min(start + batch_size, len(part.targets))))
            out.append(model(x.to(device), lengths).cpu())
    model.train(was_training)
    return torch.cat(out)


def format_confusion(confusion: list[list[int]], classes: list[str]) -> str:
    """The confusion matrix as text: rows true classes, columns predicted."""
    width = max(6, *(len(c) for c in classes))
    first = max(len("true \\ predicted"), *(len(c) for c in classes)) + 2
    lines = ["true \\ predicted".ljust(first) + " ".join(c.rjust(width) for c in classes)]
    for c, row in zip(classes, confusion):
        lines.append(c.ljust(first) + " ".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)


def plot_confusion(confusion: list[list[int]], classes: list[str], path: str | Path, title: str) -> Path | None:
    plt = pyplot()
    if plt is None:
        return None
    matrix = np.asarray(confusion)
    size = 2.5 + 0.45 * len(classes)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axis.set_yticks(range(len(classes)), classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            axis.text(j, i, str(matrix[i, j]), ha="center", va="center",
                      color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    figure.colorbar(image)
    axis.set_title(title)
    return save_figure(figure, path)


def test_report(model: nn.Module, test: Any, classes: list[str], run_dir: Path, name: str,
                columns: dict[str, list[Any]] | None = None) -> dict[str, Any]:
    """Test accuracy, macro F1, the confusion matrix (text + ``confusion.png``) and
    ``predictions.csv`` (index, ``columns`` such as the texts, true and predicted class)."""
    probabilities = predict_logits(model, test).softmax(-1).numpy()
    predicted = probabilities.argmax(-1)
    metrics = classification_scores(test.targets, predicted, range(len(classes)))
    png = plot_confusion(metrics["confusion"], classes, run_dir / "confusion.png",
                         f"{name}: accuracy {metrics['accuracy']:.3f}, macro F1 {metrics['macro_f1']:.3f}")
    columns = columns or {}
    path = run_dir / "predictions.csv"
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", *columns, "true", "predicted", "probability"])
        for i, (t, p) in enumerate(zip(test.targets, predicted)):
            writer.writerow([i, *(values[i] for values in columns.values()), classes[t], classes[p],
                             f"{probabilities[i, p]:.4f}"])
    return {"metrics": {"test_accuracy": metrics["accuracy"], "test_macro_f1": metrics["macro_f1"]},
            "confusion": metrics["confusion"], "classes": classes,
            "text": format_confusion(metrics["confusion"], classes),
            "files": [str(p) for p in (png, path) if p]}
