"""Files written whole and read with bounds.

Writing: a crash never leaves half a file. Write a temporary file beside the target, flush it
to disk, then rename it over the target (a rename within one folder is atomic).

    with atomic_path("runs/x/weights.safetensors") as tmp:   # any writer that takes a path
        save_file(tensors, str(tmp))
    with atomic_open("runs/x/scores.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    write_text("runs/x/summary.json", text)

The temporary file has a unique name (``.<name>.<random>.tmp`` in the same folder), so two
writers of one file never share it; the last rename wins and the file is always whole. A
writer that raises leaves the target as it was and removes its temporary file.

Reading: :func:`input_file` checks a path before anything reads it: it must be a regular file
(not a folder, a pipe or a device such as ``/dev/zero``, which would never end) and, where a
size limit is given, no larger. :func:`read_text` and :func:`decode_text` give text only if it
is UTF-8, and otherwise say so with the offending byte. :func:`sha256` checks a file against a
recorded digest (a checkpoint's tensors, a downloaded archive). Every error names the path.

This module is a leaf: it imports nothing from rnnkit, so every part of the package may use it.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _new_temporary(path: Path) -> Path:
    """An empty, new ``.<name>.<random>.tmp`` beside ``path``, with the permissions that writing
    ``path`` in place would give: those of the file it replaces, or 0o666 less the umask for a new
    one (``tempfile.mkstemp`` would make every result 0o600, unreadable to the group)."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the kernel applies the umask
        except FileExistsError:
            continue
        os.close(descriptor)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {path}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path for the body to write; on success it is synced and renamed to ``path``.

    The parent folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temporary(path)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """``open(tmp, mode, **kwargs)`` for the body; the file replaces ``path`` when the body ends."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open: expected a write mode ('w', 'wb', ...), got {mode!r}")
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle
        handle.flush()


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    with atomic_open(path, "w", encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_json(path: str | Path, value: Any, indent: int | None = 1) -> Path:
    """``value`` as JSON (UTF-8, non-ASCII kept as is), atomically."""
    return write_text(path, json.dumps(value, indent=indent, ensure_ascii=False) + "\n")


def sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as hex, read in 1 MiB blocks (any size of file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class InputError(ValueError):
    """A file that cannot be read as what was expected (a folder, a device, too large, not UTF-8)."""


def input_file(path: str | Path, what: str, max_bytes: int | None = None) -> Path:
    """``path`` if it is a regular file (a link to one is fine) of at most ``max_bytes``.

    ``what`` says what the file was expected to be, for the error: ``"a config (YAML)"``.
    """
    path = Path(path)
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f"{path}: no such file (expected {what})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path}: a folder; expected {what}")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path}: not a regular file (a device, pipe or socket, which may never end); "
                         f"expected {what}")
    if max_bytes is not None and info.st_size > max_bytes:
        raise InputError(f"{path}: {_size(info.st_size)}, larger than the {_size(max_bytes)} allowed for {what}")
    return path


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def decode_text(data: bytes, where: str) -> str:
    """``data`` as UTF-8 text (a leading byte-order mark dropped); binary data or another encoding
    is an :class:`InputError` naming ``where`` and the first offending byte."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{where}: UTF-16 text; expected UTF-8 (convert it: iconv -f UTF-16 -t UTF-8)")
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise InputError(f"{where}: binary data (a NUL byte at offset {offset}); expected UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{where}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); save "
                         f"it as UTF-8 (iconv -f LATIN1 -t UTF-8 converts Latin-1)") from None
    return text.removeprefix("\ufeff")


def read_text(path: str | Path, what: str, max_bytes: int | None = None) -> str:
    """The UTF-8 text of a regular file (see :func:`input_file` and :func:`decode_text`)."""
    path = input_file(path, what, max_bytes)
    return decode_text(path.read_bytes(), str(path))


def read_csv_records(path: str | Path, what: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows (column -> text) of a UTF-8 CSV file; a malformed file (a field
    beyond the csv module's limit of 131,072 characters, say) is an :class:`InputError` naming
    the file and the line."""
    text = read_text(path, what)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as error:
        raise InputError(f"{path}: line {reader.line_num}: not a well-formed CSV row ({error})") from None
    return list(reader.fieldnames or []), rows

