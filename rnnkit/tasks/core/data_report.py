"""The data report: a few lines at the start of every run on what the data looks like and what
was chosen for it automatically, so that a run on unfamiliar data never fails in silence.

The runner writes the parts' sizes (from the split record) and whatever the task's job adds
in ``data_notes`` (lengths, classes, vocabulary coverage, missing values, automatic choices),
prints them when the run shows progress and keeps them in ``summary.json``. The helpers here
are the phrases tasks share.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

IMBALANCE = 10.0  # the largest class this many times the smallest: say so


def parts_line(record: dict[str, Any]) -> str:
    """``parts: train 800, validation 100, test 100`` from a split record (see ``parts.describe``)."""
    order = {"train": 0, "validation": 1, "val": 1, "test": 2}
    sizes = [f"{name} {part['size']}" for name, part in sorted(record.items(), key=lambda kv: order.get(kv[0], 3))
             if isinstance(part, dict) and "size" in part]
    return "parts: " + (", ".join(sizes) if sizes else "as the task defines them")


def class_balance(labels: Sequence[Any], weighted: bool = False) -> list[str]:
    """The training classes with their counts, and a warning when the split is very uneven."""
    counts = Counter(str(label) for label in labels)
    shown = ", ".join(f"{name} {count}" for name, count in counts.most_common(12))
    more = f" and {len(counts) - 12} more" if len(counts) > 12 else ""
    lines = [f"classes (training part): {len(counts)}: {shown}{more}"]
    if counts and max(counts.values()) >= IMBALANCE * min(counts.values()):
        largest, smallest = counts.most_common()[0], counts.most_common()[-1]
        remedy = "the loss weights classes by inverse frequency" if weighted else \
            "accuracy will flatter a model that favours the large classes: read the macro F1"
        lines.append(f"warning: uneven classes ({largest[0]} {largest[1]} vs {smallest[0]} {smallest[1]}): {remedy}")
    return lines


def length_summary(lengths: Sequence[int], unit: str) -> str:
    """``lengths: 12-540 tokens, median 40, 95% at most 200`` of the training sequences."""
    values = np.asarray(lengths)
    if not len(values):
        return "lengths: no sequences"
    return (f"lengths (training part): {values.min()}-{values.max()} {unit}, median {int(np.median(values))}, "
            f"95% at most {int(np.percentile(values, 95))}")


def report_lines(job: Any) -> list[str]:
    """The data report of a built job: its parts' sizes, then the task's own notes."""
    record = getattr(getattr(job, "split", None), "record", None) or {}
    return [parts_line(record), *getattr(job, "data_notes", [])]
