"""The bad-input and fault cases of issue 15, one :class:`~tests.robustness.harness.Case` each.

``covers`` names the item of the issue that a case checks:

- ``lost``: run folders are owned (no overwrite, a lock, unique names, cleanup by the index)
- ``bounds``: files are read with bounds (paths in an index, special files, sizes, YAML aliases)
- ``traceback``: an input that printed a Python traceback
- ``silent``: an input that was accepted and gave a wrong or meaningless result
- ``tamper``: a run folder edited after training
- ``verbs``: every command and option given a folder, an empty or binary file, a bad number
- ``unfinished``: a run killed before its report, on every command that reads a run

:data:`CASES` is the list that ``tests/robustness/test_cases.py`` and
``benchmarks/robustness.py`` run.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import wave
import zipfile
from pathlib import Path

import numpy as np
import yaml

from tests.robustness.harness import Case, Places, Result

E, OK = "error", "ok"
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


# -- bytes of bad files ---------------------------------------------------------------------------
def series_csv(values: list[str] | None = None, n: int = 120, column: str = "y") -> str:
    """A 120-row series like the forecast run's, with some cells replaced: ``{row: text}``."""
    cells = [f"{10 + np.sin(2 * np.pi * t / 12):.6f}" for t in range(n)]
    for row, text in (values or {}).items():
        cells[row] = text
    return column + "\n" + "\n".join(cells) + "\n"


def wav(samples: int = 2400, rate: int = 8000, width: int = 2, channels: int = 1, cut: int = 0) -> bytes:
    """A PCM WAV file of a tone (its last ``cut`` bytes removed: a truncated file)."""
    buffer = io.BytesIO()
    tone = (np.sin(2 * np.pi * 440 * np.arange(samples) / max(rate, 1)) * 0.3 * (2 ** (8 * width - 1) - 1))
    frames = np.repeat(tone[:, None], channels, axis=1)
    kind = {1: np.uint8, 2: "<i2", 4: "<i4"}[width]
    data = (frames + 128).astype(kind) if width == 1 else frames.astype(kind)
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(width)
        handle.setframerate(rate)
        handle.writeframes(data.tobytes())
    raw = buffer.getvalue()
    return raw[: len(raw) - cut] if cut else raw


def float_wav() -> bytes:
    """A WAV of IEEE floats (format 3), which the standard library's reader refuses."""
    samples = np.zeros(800, "<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def sequences(n: int = 24, t: int = 6, c: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"X": rng.normal(size=(n, t, c)).astype(np.float32), "y": np.array(["a", "b"] * (n // 2))}


def npz_claiming(shape: tuple[int, ...]) -> bytes:
    """An NPZ whose ``X`` header claims ``shape`` (float64) over 16 bytes of data."""
    header = repr({"descr": "<f8", "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    member = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\x00" * 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("X.npy", member)
        archive.writestr("y.npy", _npy(np.array(["a", "b"])))
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def long_csv(t_values: list[str]) -> str:
    """A long-format CSV of 24 series of len(t_values) steps with the given ``t`` cells."""
    rows = ["series_id,t,x,label"]
    for s in range(24):
        rows += [f"s{s},{t},{np.sin(i + s):.4f},{'ab'[s % 2]}" for i, t in enumerate(t_values)]
    return "\n".join(rows) + "\n"


def texts_csv(texts: list[str]) -> str:
    return "text,label\n" + "".join(f'"{t}",{"pos" if i % 2 else "neg"}\n' for i, t in enumerate(texts))


# -- tampering with a run folder --------------------------------------------------------------------
def index_of(run: Path) -> dict:
    return json.loads((run / "checkpoint.json").read_text())


def set_index(run: Path, **changes: object) -> None:
    index = index_of(run)
    index.update(changes)
    (run / "checkpoint.json").write_text(json.dumps(index))


def tensors_to(target: str | Path) -> object:
    """prepare: the run's index names ``target`` as its tensor file."""
    def prepare(p: Places) -> None:
        set_index(p.path("forecast"), tensors=p.fill(str(target)))
    return prepare


def fifo_tensors(p: Places) -> None:
    run = p.path("forecast")
    os.mkfifo(run / "checkpoint-fifo.safetensors")
    set_index(run, tensors="checkpoint-fifo.safetensors")


def tensors_above(p: Places) -> None:
    """The index names a copy of its own tensors two folders up (``../../``): a path out of the run."""
    run = p.path("forecast")
    shutil.copy(run / index_of(run)["tensors"], run.parent.parent / "forecast-copy.safetensors")
    set_index(run, tensors="../../forecast-copy.safetensors")


def huge_log_field(p: Places) -> None:
    """A killed run whose train.csv holds a field of a million characters."""
    run = p.path("adding")
    (run / "summary.json").unlink()
    (run / "train.csv").write_text("step,loss\n1," + "9" * 1_000_000 + "\n")


def symlinked_tensors(p: Places) -> None:
    """The index names a link inside the folder to another run's tensors, with their hash."""
    run, other = p.path("forecast"), Path(p["monthly"])
    target = other / index_of(other)["tensors"]
    (run / "checkpoint-link.safetensors").symlink_to(target)
    set_index(run, tensors="checkpoint-link.safetensors", sha256=index_of(other)["sha256"])


def nan_weights_with_new_hash(name: str) -> object:
    """prepare: every float of the newest tensor file set to NaN, its SHA-256 recomputed."""
    def prepare(p: Places) -> None:
        import hashlib

        from safetensors.numpy import load_file, save_file

        run = p.path(name)
        index = index_of(run)
        path = run / index["tensors"]
        arrays = {k: np.full_like(v, np.nan) if v.dtype.kind == "f" else v for k, v in load_file(path).items()}
        save_file(arrays, path)
        set_index(run, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    return prepare


def edit(name: str, file: str, change: object) -> object:
    """prepare: rewrite a JSON file of a run with ``change(data) -> data``."""
    def prepare(p: Places) -> None:
        path = p.path(name) / file
        path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return prepare


def reverse_tokens(data: dict) -> dict:
    return {**data, "tokens": data["tokens"][:1] + data["tokens"][1:][::-1]}


def unfinished(name: str) -> object:
    """prepare: the run as a kill before its report leaves it (no summary.json)."""
    def prepare(p: Places) -> None:
        (p.path(name) / "summary.json").unlink()
    return prepare


def both(*prepares: object) -> object:
    """prepare: each in turn; the clean-ups they return, in reverse order."""
    def prepare(p: Places) -> object:
        releases = [r for r in (f(p) for f in prepares) if callable(r)]
        return lambda: [r() for r in reversed(releases)]
    return prepare


def hold_lock(folder: str) -> object:
    """prepare: this process holds the run folder's lock while the case runs (another rnnkit
    process training there); returns the release."""
    def prepare(p: Places) -> object:
        from rnnkit.training import RunLock

        path = Path(p.fill(folder))
        path.mkdir(parents=True, exist_ok=True)
        lock = RunLock(path)
        lock.acquire()
        return lock.release
    return prepare


def user_checkpoint_files(p: Places) -> None:
    mine = p.dir / "mine"
    mine.mkdir()
    (mine / "checkpoint-best.safetensors").write_bytes(b"the user's own best weights")
    (mine / "checkpoint-final.safetensors").write_bytes(b"the user's own final weights")


# -- checks -----------------------------------------------------------------------------------------
def unchanged(*names: str) -> object:
    """check: the named runs hold exactly the files they held before."""
    from tests.robustness.harness import snapshot

    def check(p: Places, result: Result, before: dict) -> str | None:
        for name in names:
            now = snapshot(p.path(name))
            if now != before[name]:
                changed = sorted(set(now.items()) ^ set(before[name].items()))
                return f"{name}: files changed: {[k for k, _ in changed][:5]}"
        return None
    return check


def moved_aside(p: Places, result: Result, before: dict) -> str | None:
    """check (train --overwrite): the old run is whole in the folder the output names, and a new
    finished run stands in its place."""
    from tests.robustness.harness import snapshot

    run = p.path("adding")
    aside = [q for q in run.parent.iterdir() if q.name.startswith("adding.") and q.is_dir()]
    if len(aside) != 1:
        return f"expected the old run moved beside the folder, found {[q.name for q in run.parent.iterdir()]}"
    if snapshot(aside[0]) != before["adding"]:
        return f"{aside[0]}: the old run is not whole"
    if str(aside[0]) not in result.stdout + result.stderr:
        return f"the output does not say where the old run went ({aside[0]})"
    if not (run / "summary.json").exists():
        return "no finished new run in its place"
    return None


def user_files_kept(p: Places, result: Result, before: dict) -> str | None:
    mine = p.dir / "mine"
    for name in ("checkpoint-best.safetensors", "checkpoint-final.safetensors"):
        if not (mine / name).exists() or b"the user's own" not in (mine / name).read_bytes():
            return f"{mine / name}: deleted or changed by the checkpoint clean-up"
    named = mine / index_of(mine)["tensors"]
    if not named.exists():
        return f"{named}: the tensor file checkpoint.json names was deleted"
    return None


def absolute_data_path(p: Places, result: Result, before: dict) -> str | None:
    saved = yaml.safe_load((p.dir / "run" / "config.yaml").read_text())["data"]["path"]
    expected = str((p.dir / "rel" / "series.csv").resolve())
    return None if saved == expected else f"config.yaml stores data.path {saved!r}, expected {expected!r}"


def two_runs(p: Places, result: Result, before: dict) -> str | None:
    """check (two trainings started at once with the default folder): two whole, separate runs."""
    runs = sorted((p.dir / "runs").glob("adding-*"))
    if len(runs) != 2:
        return f"expected two run folders, found {[r.name for r in runs]}"
    for run in runs:
        steps = [line.split(",")[0] for line in (run / "train.csv").read_text().splitlines()[1:]]
        if steps != [str(s) for s in range(1, 7)] or not (run / "summary.json").exists():
            return f"{run}: not one whole run (train.csv steps {steps})"
    return None


def one_run_one_refusal(p: Places, result: Result, before: dict) -> str | None:
    """check (two trainings started at once into one --run-dir): one trains, one is refused, and
    the folder holds one whole run."""
    run = p.dir / "same"
    steps = [line.split(",")[0] for line in (run / "train.csv").read_text().splitlines()[1:]] \
        if (run / "train.csv").exists() else []
    if steps != [str(s) for s in range(1, 7)] or not (run / "summary.json").exists():
        return f"{run}: not one whole run (train.csv steps {steps})"
    if "in use" not in result.stderr:
        return f"the second process was not refused: {result.stderr[-300:]!r}"
    return None


def states_unfinished(p: Places, result: Result, before: dict) -> str | None:
    text = result.stdout + result.stderr
    return None if "unfinished" in text else "the output does not say that the run is unfinished"


def finite_forecast(p: Places, result: Result, before: dict) -> str | None:
    path = p.dir / "out" / "forecast.csv"
    if not path.exists():
        return None
    text = path.read_text().lower()
    return "forecast.csv holds non-finite numbers" if "nan" in text or "inf" in text else None


# -- the cases ---------------------------------------------------------------------------------------
FORECAST_TRAIN = ("train", "{forecast_yaml}", "--run-dir", "{dir}/run")
SENTIMENT_TRAIN = ("train", "{sentiment_yaml}", "--run-dir", "{dir}/run")
CLASSIFY_TRAIN = ("train", "{classify_yaml}", "--run-dir", "{dir}/run", "--set", "data.test_path=null")


def forecast_data(name: str) -> tuple[str, ...]:
    return (*FORECAST_TRAIN, "--set", f"data.path={name}")


def classify_data(name: str) -> tuple[str, ...]:
    return (*CLASSIFY_TRAIN, "--set", f"data.path={name}")


CASES: list[Case] = [
    # -- run folders are owned --------------------------------------------------------------------------
    Case("train-into-a-run", "lost", ("train", "{adding_yaml}", "--run-dir", "{adding}"), E,
         ("{adding}", "--overwrite"), check=unchanged("adding"), loss=True),
    Case("train-into-a-killed-run", "lost", ("train", "{adding_yaml}", "--run-dir", "{adding}"), E,
         ("{adding}", "rnnkit resume"), prepare=unfinished("adding"), check=unchanged("adding"), loss=True),
    Case("train-overwrite-moves-aside", "lost", ("train", "{adding_yaml}", "--run-dir", "{adding}", "--overwrite"),
         OK, check=moved_aside, loss=True),
    Case("checkpoint-cleanup-spares-user-files", "lost",
         ("train", "{adding_yaml}", "--run-dir", "{dir}/mine", "--set", "train.steps=8"), OK,
         prepare=user_checkpoint_files, check=user_files_kept, loss=True),
    Case("resume-a-run-in-use", "lost", ("resume", "{adding}"), E, ("{adding}", "in use"),
         prepare=both(unfinished("adding"), hold_lock("{adding}")), check=unchanged("adding"), loss=True,
         isolate=True),
    Case("train-into-a-folder-in-use", "lost", ("train", "{adding_yaml}", "--run-dir", "{dir}/busy"), E,
         ("{dir}/busy", "in use"), prepare=hold_lock("{dir}/busy"), isolate=True),
    Case("two-trainings-default-folders", "lost", ("train", "{adding_yaml}"), OK, check=two_runs, loss=True,
         isolate=True, parallel=2),
    Case("two-trainings-one-folder", "lost", ("train", "{adding_yaml}", "--run-dir", "{dir}/same"), E,
         ("{dir}/same", "in use"), check=one_run_one_refusal, loss=True, isolate=True, parallel=2),
    Case("resume-a-finished-run", "lost", ("resume", "{adding}"), E, ("{adding}", "finished"),
         check=unchanged("adding"), loss=True),
    Case("data-path-stored-absolute", "silent",
         (*FORECAST_TRAIN, "--set", "data.path=rel/series.csv"), OK, files={"rel/series.csv": series_csv()},
         check=absolute_data_path),

    # -- the paths in a checkpoint index ------------------------------------------------------------------
    *[Case(f"index-names-dev-zero-{verb}", "bounds", (verb, "{forecast}", *extra), E, ("/dev/zero",),
           prepare=both(unfinished("forecast"), tensors_to("/dev/zero")) if verb == "resume" else
           tensors_to("/dev/zero"), isolate=True)
      for verb, extra in (("evaluate", ()), ("resume", ()), ("forecast", ("--horizon", "2", "--out", "{dir}/out")))],
    Case("index-names-a-fifo", "bounds", ("evaluate", "{forecast}"), E, ("checkpoint-fifo.safetensors",),
         prepare=fifo_tensors, isolate=True),
    Case("index-names-etc-passwd", "bounds", ("evaluate", "{forecast}"), E, ("/etc/passwd",),
         prepare=tensors_to("/etc/passwd")),
    Case("index-names-another-run", "bounds", ("evaluate", "{forecast}"), E, ("{monthly}",),
         prepare=lambda p: set_index(p.path("forecast"), tensors=str(Path(p["monthly"]) / index_of(
             Path(p["monthly"]))["tensors"]), sha256=index_of(Path(p["monthly"]))["sha256"])),
    Case("index-names-parent-folder", "bounds", ("evaluate", "{forecast}"), E, ("../",), prepare=tensors_above),
    Case("index-names-a-symlink-out", "bounds", ("evaluate", "{forecast}"), E, ("checkpoint-link.safetensors",),
         prepare=symlinked_tensors),
    Case("index-huge", "bounds", ("evaluate", "{forecast}"), E, ("checkpoint.json",),
         prepare=lambda p: (p.path("forecast") / "checkpoint.json").write_bytes(b" " * (20 << 20) + b"{}")),
    Case("index-not-json", "bounds", ("evaluate", "{forecast}"), E, ("checkpoint.json",),
         prepare=lambda p: (p.path("forecast") / "checkpoint.json").write_bytes(b"\x00\xff" * 100)),
    Case("index-truncated", "bounds", ("resume", "{adding}"), E, ("checkpoint.json",),
         prepare=both(unfinished("adding"), lambda p: (p.path("adding") / "checkpoint.json").write_text(
             (p.path("adding") / "checkpoint.json").read_text()[:100])), check=unchanged("adding")),

    # -- data paths and configs that are not files ---------------------------------------------------------
    Case("data-path-dev-zero", "bounds", forecast_data("/dev/zero"), E, ("/dev/zero",), isolate=True),
    Case("data-path-fifo", "bounds", forecast_data("{dir}/pipe.csv"), E, ("{dir}/pipe.csv",),
         prepare=lambda p: os.mkfifo(p.dir / "pipe.csv"), isolate=True),
    Case("sentiment-data-dev-zero", "bounds", (*SENTIMENT_TRAIN, "--set", "data.path=/dev/zero"), E, ("/dev/zero",),
         isolate=True),
    Case("language-data-dev-zero", "bounds", ("train", "{language_yaml}", "--run-dir", "{dir}/run", "--set",
                                              "data.path=/dev/zero"), E, ("/dev/zero",), isolate=True),
    Case("data-path-a-folder", "traceback", forecast_data("{dir}"), E, ("{dir}",)),
    Case("data-path-missing", "verbs", forecast_data("{dir}/nothing.csv"), E, ("{dir}/nothing.csv",)),
    Case("config-dev-zero", "bounds", ("train", "/dev/zero"), E, ("/dev/zero",), isolate=True),
    Case("config-fifo", "bounds", ("train", "{dir}/pipe.yaml"), E, ("{dir}/pipe.yaml",),
         prepare=lambda p: os.mkfifo(p.dir / "pipe.yaml"), isolate=True),
    Case("config-a-folder", "traceback", ("train", "{dir}"), E, ("{dir}",)),
    Case("config-alias-bomb", "bounds", ("train", "{dir}/bomb.yaml"), E, ("{dir}/bomb.yaml", "alias"),
         files={"bomb.yaml": "task: adding\n" + ALIAS_BOMB}, isolate=True),
    Case("config-recursive-alias", "bounds", ("train", "{dir}/loop.yaml"), E, ("{dir}/loop.yaml",),
         files={"loop.yaml": "task: adding\ndata: &d {length: 5, more: *d}\n"}),
    Case("set-recursive-alias", "bounds", ("train", "{adding_yaml}", "--set", "data.length=&a [*a]"), E,
         ("data.length",)),
    Case("config-huge", "bounds", ("train", "{dir}/huge.yaml"), E, ("{dir}/huge.yaml",),
         files={"huge.yaml": "task: adding\n" + "# padding\n" * 200_000}),
    Case("config-duplicate-keys", "silent", ("train", "{dir}/twice.yaml", "--run-dir", "{dir}/run"), E,
         ("{dir}/twice.yaml", "train"),
         files={"twice.yaml": "task: adding\ntrain: {steps: 3}\nmodel: {}\ntrain: {steps: 5}\n"}),
    Case("config-binary", "verbs", ("train", "{dir}/c.yaml"), E, ("{dir}/c.yaml",),
         files={"c.yaml": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))}),
    Case("config-latin-1", "verbs", ("train", "{dir}/c.yaml"), E, ("{dir}/c.yaml",),
         files={"c.yaml": "task: adding\n# caf\u00e9\n".encode("latin-1")}),
    Case("config-a-list", "verbs", ("train", "{dir}/c.yaml"), E, ("{dir}/c.yaml",), files={"c.yaml": "- task\n"}),
    Case("config-empty", "verbs", ("train", "{dir}/c.yaml"), E, ("task",), files={"c.yaml": ""}),
    Case("preset-unknown", "verbs", ("train", "no-such-preset"), E, ("no-such-preset",)),

    # -- numbers in training data ----------------------------------------------------------------------------
    Case("csv-inf", "traceback", forecast_data("{dir}/s.csv"), E, ("{dir}/s.csv", "'y'", "inf"),
         files={"s.csv": series_csv({50: "inf"})}),
    Case("csv-minus-inf", "traceback", forecast_data("{dir}/s.csv"), E, ("{dir}/s.csv", "'y'"),
         files={"s.csv": series_csv({7: "-inf"})}),
    Case("csv-nan-is-missing", "silent", forecast_data("{dir}/s.csv"), OK, files={"s.csv": series_csv({50: "nan"})}),
    Case("csv-values-near-1e298", "silent", forecast_data("{dir}/s.csv"), E, ("{dir}/s.csv", "'y'"),
         files={"s.csv": series_csv({t: f"{1e298 * (1 + t / 100):.6g}" for t in range(120)})}),
    Case("csv-one-value-1e300", "silent", forecast_data("{dir}/s.csv"), E, ("{dir}/s.csv", "'y'"),
         files={"s.csv": series_csv({60: "1e300"})}),
    Case("csv-constant-series", "silent", forecast_data("{dir}/s.csv"), E, ("{dir}/s.csv", "constant"),
         files={"s.csv": series_csv({t: "5" for t in range(120)})}),
    Case("csv-text-cell", "verbs", forecast_data("{dir}/s.csv"), E, ("{dir}/s.csv", "'y'"),
         files={"s.csv": series_csv({30: "twelve"})}),
    Case("csv-empty", "verbs", forecast_data("{dir}/s.csv"), E, ("{dir}/s.csv",), files={"s.csv": ""}),
    Case("csv-header-only", "verbs", forecast_data("{dir}/s.csv"), E, ("{dir}/s.csv",), files={"s.csv": "y\n"}),
    Case("csv-binary", "verbs", forecast_data("{dir}/s.csv"), E, ("{dir}/s.csv",),
         files={"s.csv": bytes(range(256)) * 40}),
    Case("csv-utf-16", "verbs", forecast_data("{dir}/s.csv"), E, ("{dir}/s.csv",),
         files={"s.csv": series_csv().encode("utf-16")}),
    Case("csv-too-short", "verbs", forecast_data("{dir}/s.csv"), E, ("{dir}/s.csv",),
         files={"s.csv": series_csv(n=10)}),
    Case("lr-inf", "traceback", (*FORECAST_TRAIN, "--set", "train.optimizer.lr=inf"), E, ("lr", "inf")),
    Case("lr-nan", "traceback", (*FORECAST_TRAIN, "--set", "train.optimizer.lr=nan"), E, ("lr", "nan")),
    Case("lr-1e30", "silent", (*FORECAST_TRAIN, "--set", "train.optimizer.lr=1e30"), E, ("learning rate",)),
    Case("max-seconds-negative", "silent", (*FORECAST_TRAIN, "--set", "train.max_seconds=-1"), E,
         ("max_seconds", "-1")),
    Case("steps-zero", "verbs", (*FORECAST_TRAIN, "--set", "train.steps=0"), E, ("train.steps",)),
    Case("horizon-zero-in-config", "verbs", (*FORECAST_TRAIN, "--set", "data.horizon=0"), E, ("data.horizon",)),

    # -- classification files -------------------------------------------------------------------------------
    Case("npz-empty-file", "traceback", classify_data("{dir}/d.npz"), E, ("{dir}/d.npz",), files={"d.npz": b""}),
    Case("npz-not-a-zip", "verbs", classify_data("{dir}/d.npz"), E, ("{dir}/d.npz",), files={"d.npz": "X,y\n1,a\n"}),
    Case("npz-huge-header", "traceback", classify_data("{dir}/d.npz"), E, ("{dir}/d.npz", "X"),
         files={"d.npz": npz_claiming((1 << 22, 1 << 22, 1 << 10))}, isolate=True),
    Case("npz-fractional-lengths", "silent", classify_data("{dir}/d.npz"), E, ("{dir}/d.npz", "lengths"),
         files={"d.npz": npz(**sequences(), lengths=np.full(24, 3.5))}),
    Case("npz-integral-float-lengths", "silent", classify_data("{dir}/d.npz"), OK,
         files={"d.npz": npz(**sequences(), lengths=np.full(24, 4.0))}),
    Case("npz-complex-features", "silent", classify_data("{dir}/d.npz"), E, ("{dir}/d.npz", "X"),
         files={"d.npz": npz(X=sequences()["X"] + 1j, y=sequences()["y"])}),
    Case("npz-2d-labels", "silent", classify_data("{dir}/d.npz"), E, ("{dir}/d.npz", "y"),
         files={"d.npz": npz(X=sequences()["X"], y=sequences()["y"].reshape(12, 2))}),
    Case("npz-nan-features", "silent", classify_data("{dir}/d.npz"), E, ("{dir}/d.npz",),
         files={"d.npz": npz(X=np.where(np.arange(6)[None, :, None] == 3, np.nan, sequences()["X"]),
                             y=sequences()["y"])}),
    Case("npz-object-arrays", "bounds", classify_data("{dir}/d.npz"), E, ("{dir}/d.npz",),
         files={"d.npz": npz(X=np.array([np.zeros((3, 2)), np.zeros((4, 2))], dtype=object),
                             y=np.array(["a", "b"]))}),
    Case("npz-missing-y", "verbs", classify_data("{dir}/d.npz"), E, ("{dir}/d.npz", "'y'"),
         files={"d.npz": npz(X=sequences()["X"])}),
    Case("npz-one-label-per-two", "verbs", classify_data("{dir}/d.npz"), E, ("{dir}/d.npz",),
         files={"d.npz": npz(X=sequences()["X"], y=sequences()["y"][:12])}),
    Case("long-csv-text-t", "silent", classify_data("{dir}/d.csv"), E, ("{dir}/d.csv", "'t'"),
         files={"d.csv": long_csv([f"step {i}" for i in range(6)])}),
    Case("long-csv-mixed-t", "silent", classify_data("{dir}/d.csv"), E, ("{dir}/d.csv", "'t'", "ten"),
         files={"d.csv": long_csv(["1", "2", "3", "4", "ten", "12"])}),
    Case("long-csv-numeric-t", "silent", classify_data("{dir}/d.csv"), OK,
         files={"d.csv": long_csv(["2", "10", "1", "3", "11", "20"])}),

    # -- texts -------------------------------------------------------------------------------------------------
    Case("sentiment-all-empty-texts", "silent", (*SENTIMENT_TRAIN, "--set", "data.path={dir}/t.csv"), E,
         ("{dir}/t.csv", "empty"), files={"t.csv": texts_csv([" "] * 40)}),
    Case("sentiment-1mb-field", "traceback", (*SENTIMENT_TRAIN, "--set", "data.path={dir}/t.csv"), E,
         ("{dir}/t.csv",), files={"t.csv": texts_csv(["x" * 1_000_000] + ["good film"] * 39)}),
    Case("sentiment-latin-1", "verbs", (*SENTIMENT_TRAIN, "--set", "data.path={dir}/t.csv"), E, ("{dir}/t.csv",),
         files={"t.csv": texts_csv(["caf\u00e9 film"] * 40).encode("latin-1")}),
    Case("predict-binary-stdin", "silent", ("predict", "{sentiment}"), E, ("stdin",),
         stdin=b"\xff\xfe\x00\x01binary\x00\n"),
    Case("predict-empty-stdin", "verbs", ("predict", "{sentiment}"), E, ("stdin",), stdin=b""),
    Case("predict-blank-file", "verbs", ("predict", "{sentiment}", "{dir}/t.txt"), E, ("{dir}/t.txt",),
         files={"t.txt": "\n  \n\n"}),
    Case("predict-empty-text", "silent", ("predict", "{sentiment}", "--text", ""), E, ("--text",)),
    Case("predict-latin-1-file", "verbs", ("predict", "{sentiment}", "{dir}/t.txt"), E, ("{dir}/t.txt",),
         files={"t.txt": "caf\u00e9\n".encode("latin-1")}),
    Case("predict-a-folder", "traceback", ("predict", "{sentiment}", "{dir}"), E, ("{dir}",)),
    Case("predict-dev-zero", "traceback", ("predict", "{sentiment}", "/dev/zero"), E, ("/dev/zero",), isolate=True),
    Case("predict-missing-file", "verbs", ("predict", "{sentiment}", "{dir}/no.txt"), E, ("{dir}/no.txt",)),
    Case("predict-good", "verbs", ("predict", "{sentiment}", "{texts}"), OK),
    Case("translate-beam-zero", "traceback", ("translate", "{translate}", "--text", "ab", "--beam", "0"), E,
         ("--beam", "0")),
    Case("translate-beam-negative", "traceback", ("translate", "{translate}", "--text", "ab", "--beam", "-2"), E,
         ("--beam", "-2")),
    Case("translate-binary-file", "verbs", ("translate", "{translate}", "{dir}/s.txt"), E, ("{dir}/s.txt",),
         files={"s.txt": b"\x00\x01\x02\xff\xfe" * 50}),
    Case("translate-a-folder", "traceback", ("translate", "{translate}", "{dir}"), E, ("{dir}",)),
    Case("translate-attention-a-folder", "verbs",
         ("translate", "{translate}", "--text", "ab", "--attention", "{dir}"), E, ("{dir}",)),
    Case("translate-good", "verbs", ("translate", "{translate}", "--text", "ab", "--beam", "1"), OK),

    # -- generation options -------------------------------------------------------------------------------------
    *[Case(f"generate-{option.strip('-')}-{value}", "verbs",
           ("generate", "{language}", "--length", "5", option, value), E, (option, value))
      for option, value in (("--temperature", "0"), ("--temperature", "-1"), ("--temperature", "inf"),
                            ("--temperature", "nan"), ("--top-k", "-1"), ("--top-p", "0"), ("--top-p", "1.5"),
                            ("--top-p", "nan"), ("--length", "0"), ("--length", "-5"))],
    Case("generate-good", "verbs", ("generate", "{language}", "--length", "5", "--temperature", "0.5"), OK),
    Case("music-temperature-inf", "verbs", ("generate", "{music}", "--length", "4", "--temperature", "inf",
                                            "--out", "{dir}/m.mid"), E, ("--temperature", "inf")),
    Case("music-prime-frames-zero", "verbs", ("generate", "{music}", "--length", "4", "--prime", "{midi}",
                                              "--prime-frames", "0", "--out", "{dir}/m.mid"), E, ("--prime-frames",)),
    Case("music-prime-missing", "verbs", ("generate", "{music}", "--length", "4", "--prime", "{dir}/no.mid",
                                          "--out", "{dir}/m.mid"), E, ("{dir}/no.mid",)),
    Case("music-prime-a-folder", "verbs", ("generate", "{music}", "--length", "4", "--prime", "{dir}",
                                           "--out", "{dir}/m.mid"), E, ("{dir}",)),
    Case("music-prime-garbage", "verbs", ("generate", "{music}", "--length", "4", "--prime", "{dir}/p.mid",
                                          "--out", "{dir}/m.mid"), E, ("{dir}/p.mid",),
         files={"p.mid": b"MThd\x00\x00\x00\x06garbage" + bytes(range(200))}),
    Case("music-out-a-folder", "verbs", ("generate", "{music}", "--length", "4", "--out", "{dir}"), E, ("{dir}",)),
    Case("music-good", "verbs", ("generate", "{music}", "--length", "4", "--out", "{dir}/m.mid"), OK),

    # -- audio -------------------------------------------------------------------------------------------------------
    Case("wav-one-sample", "silent", ("transcribe", "{speech}", "{dir}/a.wav"), E, ("{dir}/a.wav",),
         files={"a.wav": wav(samples=1)}),
    Case("wav-truncated", "silent", ("transcribe", "{speech}", "{dir}/a.wav"), E, ("{dir}/a.wav", "truncated"),
         files={"a.wav": wav(cut=2000)}),
    Case("wav-1-hz", "silent", ("transcribe", "{speech}", "{dir}/a.wav"), E, ("{dir}/a.wav", "1 Hz"),
         files={"a.wav": wav(rate=1, samples=50)}),
    Case("wav-empty-file", "verbs", ("transcribe", "{speech}", "{dir}/a.wav"), E, ("{dir}/a.wav",),
         files={"a.wav": b""}),
    Case("wav-text-file", "verbs", ("transcribe", "{speech}", "{dir}/a.wav"), E, ("{dir}/a.wav",),
         files={"a.wav": "not audio at all\n"}),
    Case("wav-float-samples", "verbs", ("transcribe", "{speech}", "{dir}/a.wav"), E, ("{dir}/a.wav",),
         files={"a.wav": float_wav()}),
    Case("wav-a-folder", "traceback", ("transcribe", "{speech}", "{dir}"), E, ("{dir}",)),
    Case("wav-missing", "verbs", ("transcribe", "{speech}", "{dir}/no.wav"), E, ("{dir}/no.wav",)),
    Case("wav-8-bit-stereo", "verbs", ("transcribe", "{speech}", "{dir}/a.wav"), OK,
         files={"a.wav": wav(width=1, channels=2)}),
    Case("wav-16-khz-resampled", "verbs", ("transcribe", "{speech}", "{dir}/a.wav"), OK,
         files={"a.wav": wav(samples=4800, rate=16000)}),
    Case("transcribe-beam-zero", "verbs", ("transcribe", "{speech}", "{wav}", "--beam", "0"), E, ("--beam",)),
    Case("transcripts-1mb-field", "traceback", ("train", "{speech_yaml}", "--run-dir", "{dir}/run", "--set",
                                                "data.path={dir}/t.csv"), E, ("{dir}/t.csv",),
         files={"t.csv": "path,text\na.wav," + "x" * 1_000_000 + "\n"}),

    # -- forecasting from a run ---------------------------------------------------------------------------------------
    Case("forecast-out-an-existing-file", "traceback",
         ("forecast", "{forecast}", "--horizon", "2", "--out", "{dir}/taken"), E, ("{dir}/taken",),
         files={"taken": "a file"}),
    Case("forecast-horizon-zero", "verbs", ("forecast", "{forecast}", "--horizon", "0", "--out", "{dir}/out"), E,
         ("--horizon",)),
    Case("forecast-horizon-negative", "verbs", ("forecast", "{forecast}", "--horizon", "-3", "--out", "{dir}/out"),
         E, ("--horizon",)),
    Case("forecast-horizon-beyond-the-head", "verbs",
         ("forecast", "{forecast}", "--horizon", "1000", "--out", "{dir}/out"), E, ("1000",)),
    Case("forecast-csv-missing-column", "traceback",
         ("forecast", "{forecast}", "--horizon", "2", "--csv", "{dir}/x.csv", "--out", "{dir}/out"), E,
         ("{dir}/x.csv", "'y'"), files={"x.csv": "a,b\n1,2\n"}),
    Case("forecast-csv-inf", "silent",
         ("forecast", "{forecast}", "--horizon", "2", "--csv", "{dir}/x.csv", "--out", "{dir}/out"), E,
         ("{dir}/x.csv", "inf"), files={"x.csv": series_csv({119: "inf"})}),
    Case("forecast-csv-another-grid", "silent",
         ("forecast", "{monthly}", "--horizon", "2", "--csv", "{dir}/daily.csv", "--out", "{dir}/out"), E,
         ("{dir}/daily.csv",),
         files={"daily.csv": "month,y\n" + "".join(f"2001-01-{d:02d},{10 + np.sin(d):.4f}\n" for d in range(1, 29))}),
    Case("forecast-csv-a-folder", "traceback",
         ("forecast", "{forecast}", "--horizon", "2", "--csv", "{dir}", "--out", "{dir}/out"), E, ("{dir}",)),
    Case("forecast-csv-empty", "verbs",
         ("forecast", "{forecast}", "--horizon", "2", "--csv", "{dir}/x.csv", "--out", "{dir}/out"), E,
         ("{dir}/x.csv",), files={"x.csv": ""}),
    Case("forecast-csv-shorter-than-window", "verbs",
         ("forecast", "{forecast}", "--horizon", "2", "--csv", "{dir}/x.csv", "--out", "{dir}/out"), E,
         ("{dir}/x.csv",), files={"x.csv": series_csv(n=5)}),
    Case("forecast-newer-data", "verbs",
         ("forecast", "{forecast}", "--horizon", "2", "--csv", "{newer_csv}", "--out", "{dir}/out"), OK,
         check=finite_forecast),
    Case("forecast-future-a-folder", "verbs",
         ("forecast", "{forecast}", "--horizon", "2", "--future", "{dir}", "--out", "{dir}/out"), E, ("{dir}",)),

    # -- run folders edited after training -------------------------------------------------------------------------
    Case("weights-nan-hash-recomputed", "tamper", ("evaluate", "{forecast}"), E, ("{forecast}",),
         prepare=nan_weights_with_new_hash("forecast")),
    Case("weights-nan-forecast", "tamper", ("forecast", "{forecast}", "--horizon", "2", "--out", "{dir}/out"), E,
         ("{forecast}",), prepare=nan_weights_with_new_hash("forecast"), check=finite_forecast),
    Case("weights-nan-predict", "tamper", ("predict", "{sentiment}", "--text", "good"), E, ("{sentiment}",),
         prepare=nan_weights_with_new_hash("sentiment")),
    Case("weights-bytes-flipped", "tamper", ("evaluate", "{forecast}"), E, ("{forecast}",),
         prepare=lambda p: _flip_bytes(p.path("forecast"))),
    *[Case(f"index-step-{name}", "tamper", ("evaluate", "{forecast}"), E, ("step",),
           prepare=lambda p, v=value: set_index(p.path("forecast"), step=v))
      for name, value in (("1e30", 1e30), ("negative", -100), ("text", "six"), ("fraction", 3.5),
                          ("beyond-train-steps", 7))],
    Case("classes-reordered", "tamper", ("predict", "{sentiment}", "--text", "good"), E, ("classes.json",),
         prepare=edit("sentiment", "classes.json", lambda c: c[::-1])),
    Case("sentiment-vocab-edited", "tamper", ("predict", "{sentiment}", "--text", "good"), E, ("vocab.json",),
         prepare=edit("sentiment", "vocab.json", reverse_tokens)),
    Case("language-vocab-edited", "tamper", ("generate", "{language}", "--length", "3"), E, ("vocab.json",),
         prepare=edit("language", "vocab.json", reverse_tokens)),
    Case("translate-vocab-edited", "tamper", ("translate", "{translate}", "--text", "ab"), E, ("target_vocab.json",),
         prepare=edit("translate", "target_vocab.json", reverse_tokens)),
    Case("speech-labels-edited", "tamper", ("transcribe", "{speech}", "{wav}"), E, ("labels.json",),
         prepare=edit("speech", "labels.json", reverse_tokens)),
    Case("config-yaml-binary", "tamper", ("evaluate", "{forecast}"), E, ("config.yaml",),
         prepare=lambda p: (p.path("forecast") / "config.yaml").write_bytes(bytes(range(256)))),
    Case("config-yaml-removed", "tamper", ("evaluate", "{forecast}"), E, ("{forecast}", "config.yaml"),
         prepare=lambda p: (p.path("forecast") / "config.yaml").unlink()),
    Case("run-dir-a-file", "verbs", ("evaluate", "{dir}/f"), E, ("{dir}/f",), files={"f": "x"}),
    Case("run-dir-missing", "verbs", ("evaluate", "{dir}/none"), E, ("{dir}/none",)),
    Case("run-dir-empty", "verbs", ("resume", "{dir}/empty"), E, ("{dir}/empty",),
         prepare=lambda p: (p.dir / "empty").mkdir()),
    Case("train-csv-1mb-field", "tamper", ("resume", "{adding}"), E, ("train.csv",), prepare=huge_log_field),

    # -- demo ------------------------------------------------------------------------------------------------------------
    Case("demo-csv-missing", "verbs", ("demo", "--csv", "{dir}/no.csv", "--column", "y", "--out", "{dir}/d"), E,
         ("{dir}/no.csv",)),
    Case("demo-csv-a-folder", "traceback", ("demo", "--csv", "{dir}", "--column", "y", "--out", "{dir}/d"), E,
         ("{dir}",)),
    Case("demo-csv-inf", "silent", ("demo", "--csv", "{dir}/s.csv", "--column", "y", "--steps", "2", "--out",
                                    "{dir}/d"), E, ("{dir}/s.csv", "inf"), files={"s.csv": series_csv({40: "inf"})}),
    Case("demo-hidden-size-zero", "verbs", ("demo", "--hidden-size", "0", "--out", "{dir}/d"), E,
         ("--hidden-size",)),
    Case("demo-steps-zero", "verbs", ("demo", "--steps", "0", "--out", "{dir}/d"), E, ("--steps",)),
]

# -- a run killed before its report, on every command that reads a run --------------------------------------
VERBS = {
    "evaluate": ("evaluate", "forecast", ()),
    "forecast": ("forecast", "forecast", ("--horizon", "2", "--out", "{dir}/out")),
    "generate-text": ("generate", "language", ("--length", "3")),
    "generate-music": ("generate", "music", ("--length", "3", "--out", "{dir}/m.mid")),
    "predict": ("predict", "sentiment", ("--text", "good")),
    "translate": ("translate", "translate", ("--text", "ab")),
    "transcribe": ("transcribe", "speech", ("{wav}",)),
}
for label, (verb, run_name, extra) in VERBS.items():
    CASES.append(Case(f"unfinished-{label}", "unfinished", (verb, f"{{{run_name}}}", *extra), E,
                      (f"{{{run_name}}}", "--unfinished"), prepare=unfinished(run_name)))
    CASES.append(Case(f"unfinished-{label}-allowed", "unfinished", (verb, f"{{{run_name}}}", *extra, "--unfinished"),
                      OK, prepare=unfinished(run_name), check=states_unfinished))


def _flip_bytes(run: Path) -> None:
    path = run / index_of(run)["tensors"]
    data = bytearray(path.read_bytes())
    data[-8:] = bytes(b ^ 0xFF for b in data[-8:])
    path.write_bytes(bytes(data))


def by_id() -> dict[str, Case]:
    cases = {c.id: c for c in CASES}
    assert len(cases) == len(CASES), "case ids must be unique"
    return cases

