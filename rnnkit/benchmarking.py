"""Helpers for benchmark scripts: who measured, where and when, and writing result tables."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path

import numpy
import torch


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, str | int]:
    info: dict[str, str | int] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 0,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda or ""
        info["cudnn"] = str(torch.backends.cudnn.version())
    return info


def write_results(name: str, markdown: str, payload: dict, folder: Path | None = None) -> tuple[Path, Path]:
    """Write ``<name>.md`` and ``<name>.json`` under ``benchmarks/results`` (temp file, then rename)."""
    folder = folder or Path("benchmarks") / "results"
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / f"{name}.md", folder / f"{name}.json")
    for path, text in zip(paths, (markdown, json.dumps(payload, indent=1) + "\n")):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return paths


def header(info: dict) -> str:
    return "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items())
