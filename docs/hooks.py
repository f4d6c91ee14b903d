"""MkDocs hooks: the benchmark figures as site files, and each task's config keys read from its code.

``<!-- config-keys: TASK -->`` in a page becomes a table of every key of TASK's config (dotted
path, default, the comment beside the field in the code), so the docs cannot drift from the
dataclasses that ``rnnkit train`` validates against.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import re
import tokenize
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("benchmarks/results/*.png", "benchmarks/results/*.gif")
MARKER = re.compile(r"<!-- config-keys: (\w+) -->")


def on_files(files: Files, config: Any) -> Files:
    for pattern in FIGURES:
        for path in sorted(ROOT.glob(pattern)):
            files.append(File(str(path.relative_to(ROOT)), str(ROOT), config["site_dir"], config["use_directory_urls"]))
    return files


def _comments(cls: type) -> dict[str, str]:
    """Field name -> the comment on its line in the class's source."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    name = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NEWLINE or token.type == tokenize.NL:
            name = None
        elif token.type == tokenize.NAME and name is None and token.start[1] == 4:
            name = token.string
        elif token.type == tokenize.COMMENT and name is not None:
            found[name] = token.string.lstrip("# ").strip()
    return found


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def _rows(config: Any, prefix: str = "") -> list[tuple[str, str, str]]:
    rows = []
    comments = _comments(type(config))
    for field in dataclasses.fields(config):
        if not field.init:
            continue
        value = getattr(config, field.name)
        path = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value):
            rows += _rows(value, path + ".")
        else:
            rows.append((path, _value(value), comments.get(field.name, "")))
    return rows


def config_table(task: str) -> str:
    from rnnkit.tasks.core import registry

    config = registry.get(task).config()
    lines = [f"Every key of a `task: {task}` config, its default and what it sets (read from the code; "
             "`--set KEY=VALUE` overrides one, an unknown key is an error):", "",
             "| key | default | meaning |", "|---|---|---|"]
    for path, value, comment in _rows(config):
        escaped = comment.replace("|", "\\|")
        lines.append(f"| `{path}` | `{value.replace('|', '/')}` | {escaped} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    return MARKER.sub(lambda m: config_table(m.group(1)), markdown)
