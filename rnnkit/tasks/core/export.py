"""``rnnkit export RUN_DIR``: a trained run's model as an ONNX file or a ``torch.export`` program.

    rnnkit export runs/language-... --format onnx --streaming      # one token a step, the state in and out
    rk.export_run("runs/forecast-...", format="exported-program")  # the same from Python

Each application says what its model's inputs are (its :class:`Task`'s ``export``: a function
``(job, streaming) -> ExportSpec``): the whole sequence, or with ``streaming`` one time step
with the recurrent state as explicit inputs and outputs (``state.0``, ``state.1``: the
layer's ``(h, c)`` for an LSTM, each ``(L, B, H)``), which a deployment carries from call to
call. The batch is dynamic. The time length of a sequence export is dynamic where the exporter
allows it, checked on another length (else fixed at ``--steps``, and the sidecar says so; stream
for any length): in ONNX where every recurrent layer becomes ONNX's own LSTM/GRU/RNN operator
(plain cells, no lengths input), written by torch.onnx's TorchScript exporter, since the dynamo
exporter fixes the length of those operators (of torch.nn's layers too, torch 2.13); in an
ExportedProgram where torch.export keeps it (not torch's LSTM, which it unrolls).

Beside the file (``RUN_DIR/model-sequence.onnx``, ``model-step.onnx``, or ``.pt2``) goes a JSON file
of the same name: the inputs and outputs (names,
shapes, what they mean), what is dynamic, and the check that was run: the exported file on a
new input (another batch size, and another length where time is dynamic) against PyTorch, with
the largest absolute difference. Needs the ``onnx`` extra for ONNX.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from rnnkit.files import write_text
from rnnkit.tasks.core import registry, run

Format = Literal["onnx", "exported-program"]
FORMATS = ("onnx", "exported-program")
SUFFIX = {"onnx": ".onnx", "exported-program": ".pt2"}


@dataclass
class ExportSpec:
    """What to export: ``module(*make(batch, time))`` with named inputs and outputs.

    ``make(batch, time)`` builds example inputs of that batch size and length (the exporter
    traces one; the check runs another); ``dynamic``: input name -> {dim: "batch" or "time"};
    ``describe``: a line per input and output for the sidecar.
    """

    module: nn.Module
    make: Callable[[int, int], tuple[Tensor, ...]]
    input_names: list[str]
    output_names: list[str]
    dynamic: dict[str, dict[int, str]]
    time: int  # the example's length (the fixed one where time cannot be dynamic)
    describe: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # for the sidecar: what a caller needs beside the file
    varargs: int | None = None  # the position where the module's ``*args`` begin, if it has them


class StatefulStep(nn.Module):
    """``(x, *state leaves) -> (y, *new state leaves)`` of ``step(x, state) -> (y, state)``: a
    recurrent state (a tensor, or a tuple such as ``(h, c)``) as flat tensors in and out."""

    def __init__(self, owner: nn.Module, step: Callable[[Tensor, Any], tuple[Tensor, Any]]) -> None:
        super().__init__()
        self.owner, self._step = owner, step  # owner: registers the parameters the step uses

    def forward(self, x: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        y, new = self._step(x, state[0] if len(state) == 1 else tuple(state))
        return (y, *(new if isinstance(new, tuple) else (new,)))


def state_leaves(layer: nn.Module, batch: int) -> tuple[Tensor, ...]:
    """A recurrent layer's zero state for ``batch`` as a tuple of tensors."""
    state = layer.initial_state(batch)
    return state if isinstance(state, tuple) else (state,)


def state_names(count: int, prefix: str = "state") -> list[str]:
    return [f"{prefix}.{i}" for i in range(count)]


def recurrent_spec(owner: nn.Module, layer: nn.Module, step: Callable[[Tensor, Any], tuple[Tensor, Any]],
                   make_x: Callable[[int, int], Tensor], x_name: str, x_dims: dict[int, str], y_name: str, time: int,
                   describe: dict[str, str]) -> ExportSpec:
    """A model that reads ``x`` with a recurrent ``layer`` and carries its state, as
    ``(x, *state) -> (y, *state)``: ``step`` is one time step (streaming) or the whole sequence;
    ``x_dims``: which of ``x``'s dimensions are the batch and the time."""
    count = len(state_leaves(layer, 1))
    names, nexts = state_names(count), state_names(count, "next_state")
    states = {n: f"the recurrent state (layers, batch, hidden): zeros at the start, then the previous call's {m}"
              for n, m in zip(names, nexts)}
    states.update({m: f"the state after this call, for the next call's {n}" for n, m in zip(names, nexts)})
    return ExportSpec(StatefulStep(owner, step), lambda b, t: (make_x(b, t), *state_leaves(layer, b)),
                      [x_name, *names], [y_name, *nexts], {x_name: x_dims, **{n: {1: "batch"} for n in names}}, time,
                      {**describe, **states}, varargs=1)


def sequence_spec(module: nn.Module, make_x: Callable[[int, int], Tensor], x_name: str, x_dims: dict[int, str],
                  output_names: list[str], time: int, describe: dict[str, str]) -> ExportSpec:
    """A model of ``(x, lengths (B,)) -> outputs``: sequences of different lengths in one batch,
    each padded to the longest (what the padding holds does not matter)."""
    def make(b: int, t: int) -> tuple[Tensor, Tensor]:
        lengths = torch.randint(1, t + 1, (b,), generator=example_generator(b, t))
        lengths[0] = t
        return make_x(b, t), lengths

    lines = {"lengths": "each sequence's length (batch,), int64; the longest is the padded length", **describe}
    return ExportSpec(module, make, [x_name, "lengths"], output_names, {x_name: x_dims, "lengths": {0: "batch"}}, time,
                      lines)


def seq2seq_spec(model: nn.Module, streaming: bool, make_source: Callable[[int, int], Tensor], source_dims: dict[int, str],
                 source: str, target_vocab: str) -> ExportSpec:
    """An encoder-decoder (:class:`~rnnkit.models.seq2seq.Seq2Seq`) as two files: the encoder
    (``(source, lengths) -> memory and the decoder's first state``) and, with ``streaming``, one
    decoder step (``(token, *state, [feed], *memory) -> (logits, *next_state, [next_feed],
    [weights])``), which a search (greedy or beam) calls once per output token."""
    from rnnkit.models.seq2seq import ExportedDecoderStep, ExportedEncoder, memory_names

    def encoder_inputs(b: int, t: int) -> tuple[Tensor, Tensor]:
        lengths = torch.randint(1, t + 1, (b,), generator=example_generator(b, t))
        lengths[0] = t
        return make_source(b, t), lengths

    encoder = ExportedEncoder(model)
    feeds = 1 if model.config.input_feeding else 0
    memory = memory_names(model)
    n_state = len(state_leaves(model.decoder, 1))  # the decoder's state: (h,) or (h, c)
    states = state_names(n_state)
    feed = ["feed"] if feeds else []
    if not streaming:
        describe = {source: f"{source} (time, batch)", "lengths": "each source's length (batch,), int64",
                    "memory": "the encoder's outputs (source time, batch, width)",
                    "keys": "the attention's projection of the memory", "mask": "true at the sources' valid steps",
                    "source_tokens": "the source ids, which the copy mechanism copies from",
                    "feed": "the decoder's first input feed (zeros)",
                    **{n: "the decoder's first state (layers, batch, hidden)" for n in states}}
        return ExportSpec(encoder, encoder_inputs, [source, "lengths"], [*memory, *states, *feed],
                          {source: source_dims, "lengths": {0: "batch"}}, 12,
                          {k: v for k, v in describe.items() if k in [source, "lengths", *memory, *states, *feed]})

    def step_inputs(b: int, t: int) -> tuple[Tensor, ...]:
        with torch.no_grad():
            encoded = encoder(*encoder_inputs(b, t))  # a source of t steps
        memory_part = encoded[: len(memory)]
        rest = encoded[len(memory):]
        token = torch.randint(0, model.output.out_features, (b,), generator=example_generator(b, t))
        return (token, *rest, *memory_part)

    nexts = state_names(n_state, "next_state")
    outputs = ["logits", *nexts, *(["next_feed"] if feeds else []), *(["weights"] if model.attention is not None else [])]
    dims = {"token": {0: "batch"}, **{n: {1: "batch"} for n in states}, "feed": {0: "batch"},
            "memory": {0: "time", 1: "batch"}, "keys": {0: "time", 1: "batch"}, "mask": {0: "time", 1: "batch"},
            "source_tokens": {0: "time", 1: "batch"}}
    names = ["token", *states, *feed, *memory]
    describe = {"token": f"the previous output token (batch,), int64, of {target_vocab} (<bos> first)",
                **{n: "the decoder state: the encoder's, then the previous step's next_state" for n in states},
                "feed": "the previous step's next_feed (the encoder's first, zeros)",
                **{n: f"the encoder's {n}, the same at every step" for n in memory},
                "logits": "the next token's logits (batch, vocab) (log probabilities with copy)",
                **{n: "the state for the next step" for n in nexts}, "next_feed": "the feed for the next step",
                "weights": "the attention weights over the source (source time, batch)"}
    return ExportSpec(ExportedDecoderStep(model, n_state), step_inputs, names, outputs, {n: dims[n] for n in names}, 7,
                      {k: v for k, v in describe.items() if k in [*names, *outputs]}, varargs=1)


def example_generator(batch: int, time: int) -> torch.Generator:
    """A generator seeded by the example's shape: the same example inputs every run."""
    return torch.Generator().manual_seed(1000 * batch + time)


# -- export and check ------------------------------------------------------------------------------
@dataclass
class ExportResult:
    path: Path
    sidecar: Path
    max_abs_diff: float
    dynamic_time: bool
    streaming: bool
    time: int  # the traced length (the file's, where time is fixed)


def _torch_dynamic(spec: ExportSpec, with_time: bool) -> tuple[Any, ...]:
    """``dynamic_shapes`` in the structure of the module's signature (its ``*args`` as one tuple)."""
    dims = {"batch": torch.export.Dim("batch", min=1), "time": torch.export.Dim("time", min=2)}
    shapes = tuple({d: dims[kind] for d, kind in spec.dynamic.get(name, {}).items() if with_time or kind != "time"}
                   for name in spec.input_names)
    return shapes if spec.varargs is None else (*shapes[: spec.varargs], shapes[spec.varargs :])


def onnx_reads_any_length(module: nn.Module) -> bool:
    """Whether every recurrent layer in ``module`` becomes ONNX's own LSTM/GRU/RNN operator, which
    reads any length (else a layer is its loop unrolled over the traced length)."""
    from rnnkit.layers.base import RecurrentLayer
    from rnnkit.layers.dispatch import onnx_operator
    from rnnkit.layers.torch_layers import TorchCompatibleLayer

    layers = [m for m in module.modules() if isinstance(m, RecurrentLayer)]
    return bool(layers) and all(isinstance(m, TorchCompatibleLayer) and onnx_operator(m) for m in layers)


def _export(spec: ExportSpec, fmt: Format, path: Path, with_time: bool) -> None:
    example = spec.make(2, spec.time)
    if fmt == "onnx" and with_time:  # torch.onnx's TorchScript exporter: its LSTM/GRU operators keep time dynamic
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(spec.module, example, str(path), dynamo=False, input_names=spec.input_names,
                              output_names=spec.output_names, dynamic_axes=spec.dynamic)
        return
    dynamic = _torch_dynamic(spec, with_time)
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")  # "torchvision is not installed"
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        _export_quietly(spec, fmt, path, example, dynamic)
    finally:
        registration.setLevel(level)


def _export_quietly(spec: ExportSpec, fmt: Format, path: Path, example: tuple[Tensor, ...],
                    dynamic: tuple[Any, ...]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            torch.onnx.export(spec.module, example, str(path), dynamo=True, dynamic_shapes=dynamic,
                              input_names=spec.input_names, output_names=spec.output_names, verbose=False,
                              external_data=False)  # one file, the weights inside
        else:
            program = torch.export.export(spec.module, example, dynamic_shapes=dynamic)
            torch.export.save(program, str(path))


def _run_exported(fmt: Format, path: Path, inputs: Sequence[Tensor]) -> list[Tensor]:
    if fmt == "onnx":
        from rnnkit.extras import require

        ort = require("onnxruntime", "checking an ONNX export")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {i.name: t.detach().cpu().numpy() for i, t in zip(session.get_inputs(), inputs)}
        return [torch.from_numpy(o) for o in session.run(None, feeds)]
    out = torch.export.load(str(path)).module()(*inputs)
    return [t.detach().cpu() for t in (out if isinstance(out, (tuple, list)) else (out,))]


def check_export(spec: ExportSpec, fmt: Format, path: Path, dynamic_time: bool) -> float:
    """The largest absolute difference between the exported file and PyTorch on a new input (batch
    3; with dynamic time, another length too)."""
    time = spec.time + 3 if dynamic_time else spec.time
    inputs = spec.make(3, time)
    with torch.no_grad():
        expected = spec.module(*inputs)
    expected = [t.detach().cpu() for t in (expected if isinstance(expected, (tuple, list)) else (expected,))]
    got = _run_exported(fmt, path, inputs)
    if len(got) != len(expected):
        raise RuntimeError(f"{path}: the export gives {len(got)} outputs, PyTorch {len(expected)}")
    return max(float((g.double() - e.double()).abs().max()) if e.numel() else 0.0 for g, e in zip(got, expected))


def export_run(run_dir: str | Path, format: Format = "onnx", streaming: bool = False, out: str | Path | None = None,
               allow_unfinished: bool = False, steps: int | None = None) -> ExportResult:
    """Export a trained run's model (see the module docstring); returns where, and the check.
    ``steps``: the sequence length to trace (the fixed length where time cannot stay dynamic) for
    models that read sequences of any length (default: the task's)."""
    if format not in FORMATS:
        raise ValueError(f"--format {format!r}: expected one of {list(FORMATS)}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 2):
        raise ValueError(f"--steps {steps!r}: expected an integer >= 2")
    if format == "onnx":
        from rnnkit.extras import require

        require("onnxscript", "ONNX export")
    run_dir = Path(run_dir)
    config = run.load_run_config(run_dir)
    entry = registry.get(config.task)
    if entry.export is None:
        raise ValueError(f"{run_dir}: task {config.task!r} has no export yet; exported tasks: "
                         f"{[n for n in registry.names() if registry.get(n).export is not None]}")
    _, job = run.load_trained(run_dir, config.task, config.task, allow_unfinished)
    job.model.cpu().eval()
    spec = entry.export(job, streaming)
    reads_any_length = any("time" in d.values() for d in spec.dynamic.values())
    if steps is not None and reads_any_length:
        spec.time = steps
    # ONNX: time stays dynamic where every recurrent layer is ONNX's own operator and no lengths are
    # read (torch.onnx's dynamo exporter fixes the length even there, for torch.nn's layers too: the
    # TorchScript exporter writes it); else the loop is unrolled over the traced length, which is fixed.
    # torch.export keeps time dynamic where it can. Either way it is checked on another length.
    wants_time = reads_any_length and (format == "exported-program" or (
        "lengths" not in spec.input_names and onnx_reads_any_length(spec.module)))
    kind = "step" if streaming else "sequence"
    path = Path(out) if out is not None else run_dir / f"model-{kind}{SUFFIX[format]}"
    if path.suffix != SUFFIX[format]:
        raise ValueError(f"--out {path}: expected a file name ending in {SUFFIX[format]} for --format {format}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as scratch:
        partial = Path(scratch) / path.name  # written whole, checked, then renamed into place
        dynamic_time = wants_time
        with torch.no_grad():
            try:
                _export(spec, format, partial, with_time=wants_time)
                difference = check_export(spec, format, partial, dynamic_time)
            except Exception:  # noqa: BLE001 - the exporter cannot keep time dynamic here: fix it to the example's
                if not wants_time:
                    raise
                dynamic_time = False
                _export(spec, format, partial, with_time=False)
                difference = check_export(spec, format, partial, dynamic_time)
        partial.replace(path)
    sidecar = path.with_suffix(".json")
    shape_notes = {name: {str(d): ("dynamic" if kind == "batch" or dynamic_time else f"fixed at {spec.time}") + f" ({kind})"
                          for d, kind in spec.dynamic.get(name, {}).items()} for name in spec.input_names}
    write_text(sidecar, json.dumps({
        "run": str(run_dir.resolve()), "task": config.task, "format": format, "kind": kind,
        "inputs": spec.input_names, "outputs": spec.output_names, "dimensions": shape_notes,
        "meaning": spec.describe, "dynamic_time": dynamic_time, **spec.extra,
        "check": {"max_abs_diff": difference, "against": "PyTorch eager on a new input of batch 3"
                  + (f" and length {spec.time + 3}" if dynamic_time else "")},
        "torch": torch.__version__}, indent=1) + "\n")
    return ExportResult(path, sidecar, difference, dynamic_time, streaming, spec.time)
