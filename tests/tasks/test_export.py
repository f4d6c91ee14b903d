"""``rnnkit export``: each task's trained model as ONNX (run in onnxruntime) or a torch.export
program, held against the PyTorch model on inputs of its own: a streamed file step by step
against the whole-sequence forward pass, padded batches against each sequence alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import rnnkit as rk
from rnnkit.tasks.core import run

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def stream_in_onnx(path, xs, state):
    """Run a streaming export over the steps ``xs`` (each (B, ...)), carrying its state."""
    s = session(path)
    names = [i.name for i in s.get_inputs()]
    outputs = []
    for x in xs:
        y, *state = s.run(None, dict(zip(names, [x, *state])))
        outputs.append(y)
    return np.stack(outputs), state


def load(run_dir):
    _, job = run.load_trained(run_dir, run.load_run_config(run_dir).task, "export test")
    return job.model.eval(), job


@pytest.mark.parametrize("task", ["language", "music"])
def test_a_streamed_export_step_by_step_equals_the_whole_sequence_forward(trained, tmp_path, task):
    run_dir = trained(task)
    model, _ = load(run_dir)
    result = rk.export_run(run_dir, "onnx", streaming=True, out=tmp_path / "step.onnx")
    assert result.max_abs_diff < 1e-5 and result.path.exists()
    g = torch.Generator().manual_seed(0)
    if task == "language":
        xs = torch.randint(0, model.embedding.num_embeddings, (9, 2), generator=g)
    else:
        xs = (torch.rand(9, 2, model.pitches, generator=g) < 0.2).float()
    with torch.no_grad():
        expected, (h, c) = model(xs)
        if task == "music":  # the export gives each pitch's logit; the model, the features they come from
            expected = model.logits(expected)
    zeros = [np.zeros((h.shape[0], 2, h.shape[2]), np.float32), np.zeros((c.shape[0], 2, c.shape[2]), np.float32)]
    got, state = stream_in_onnx(result.path, xs.numpy(), zeros)
    np.testing.assert_allclose(got, expected.numpy(), atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(state[0], h.numpy(), atol=2e-5, rtol=1e-4)
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["inputs"][1:] == ["state.0", "state.1"] and sidecar["outputs"][1:] == ["next_state.0", "next_state.1"]
    assert sidecar["kind"] == "step" and sidecar["check"]["max_abs_diff"] == result.max_abs_diff


def test_a_language_model_as_an_exported_program_reads_any_length(trained, tmp_path):
    run_dir = trained("language", {"model": {"recurrent": {"cell": "gru", "hidden_size": 8, "num_layers": 1}}})
    model, _ = load(run_dir)
    result = rk.export_run(run_dir, "exported-program", out=tmp_path / "lm.pt2")
    program = torch.export.load(str(result.path)).module()
    for T, B in ((5, 1), (30, 4)):
        ids = torch.randint(0, model.embedding.num_embeddings, (T, B))
        zeros = torch.zeros(1, B, 8)
        logits, h = program(ids, zeros)
        with torch.no_grad():
            expected, h_expected = model(ids)
        torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(h, h_expected, rtol=1e-5, atol=1e-6)
    assert result.dynamic_time


def test_a_plain_language_model_in_onnx_reads_any_length(trained, tmp_path):
    run_dir = trained("language")
    model, _ = load(run_dir)
    result = rk.export_run(run_dir, "onnx", out=tmp_path / "lm.onnx")
    assert result.dynamic_time  # every layer is ONNX's LSTM operator: no length is baked in
    s = session(result.path)
    for T, B in ((3, 1), (41, 5)):
        ids = torch.randint(0, model.embedding.num_embeddings, (T, B))
        zeros = np.zeros((1, B, 8), np.float32)
        logits, h, c = s.run(None, {"ids": ids.numpy(), "state.0": zeros, "state.1": zeros})
        with torch.no_grad():
            expected, (h_expected, _) = model(ids)
        np.testing.assert_allclose(logits, expected.numpy(), atol=2e-5, rtol=1e-4)
        np.testing.assert_allclose(h, h_expected.numpy(), atol=2e-5, rtol=1e-4)
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["dimensions"]["ids"] == {"0": "dynamic (time)", "1": "dynamic (batch)"}


def test_the_anomaly_forecaster_streams_and_the_autoencoder_reads_windows(trained, tmp_path):
    run_dir = trained("anomaly")
    model, job = load(run_dir)
    step = rk.export_run(run_dir, "onnx", streaming=True, out=tmp_path / "step.onnx")
    x = torch.randn(12, 3, 1)
    with torch.no_grad():
        expected = model(x)  # (T, B, horizon * C)
    L = model.recurrent.num_layers
    H = model.recurrent.hidden_size
    zeros = [np.zeros((L, 3, H), np.float32)] * 2
    got, _ = stream_in_onnx(step.path, x.numpy(), zeros)
    np.testing.assert_allclose(got, expected.numpy(), atol=2e-5, rtol=1e-4)
    sidecar = json.loads(step.sidecar.read_text())
    assert sidecar["loc"] == pytest.approx(job.loc.tolist()) and sidecar["kind"] == "forecaster"
    auto_dir = trained("anomaly", {"model": {"kind": "autoencoder", "window": 10, "recurrent": {"hidden_size": 8}}})
    auto, job = load(auto_dir)
    with pytest.raises(ValueError, match="reconstructs whole windows"):
        rk.export_run(auto_dir, "onnx", streaming=True)
    whole = rk.export_run(auto_dir, "onnx", out=tmp_path / "auto.onnx")
    windows = torch.randn(10, 5, 1)
    with torch.no_grad():
        expected = auto(windows)
    got = session(whole.path).run(None, {"windows": windows.numpy()})[0]
    np.testing.assert_allclose(got, expected.numpy(), atol=2e-5, rtol=1e-4)


def test_the_forecaster_export_forecasts_a_real_window(trained, tmp_path):
    run_dir = trained("forecast")
    model, job = load(run_dir)
    result = rk.export_run(run_dir, "onnx", out=tmp_path / "f.onnx")
    batch = job.prepared.batch([40, 60, 80])
    with torch.no_grad():
        expected = model(batch.history, batch.future_covariates, batch.last_value, anchor=batch.anchor)
    s = session(result.path)
    names = [i.name for i in s.get_inputs()]
    values = {"history": batch.history, "last_value": batch.last_value, "anchor": batch.anchor}
    got = s.run(None, {n: values[n].numpy() for n in names})[0]
    np.testing.assert_allclose(got, expected.numpy(), atol=2e-5, rtol=1e-4)
    assert names == ["history", "last_value", "anchor"]  # the tiny series has no covariates: no such input
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["window"] == 12 and sidecar["global_loc"] == pytest.approx(job.prepared.global_loc.tolist())
    with pytest.raises(ValueError, match="whole window of history"):
        rk.export_run(run_dir, "onnx", streaming=True)


@pytest.mark.parametrize("fmt", ["onnx", "exported-program"])
@pytest.mark.parametrize("task", ["classify", "sentiment"])
def test_a_padded_batch_in_the_export_gives_each_sequence_its_own_answer(trained, tmp_path, task, fmt):
    run_dir = trained(task)
    model, job = load(run_dir)
    result = rk.export_run(run_dir, fmt, out=tmp_path / ("m.onnx" if fmt == "onnx" else "m.pt2"), steps=10)
    T = 10
    if task == "classify":
        x = torch.randn(T, 3, job.channels)
    else:
        x = torch.randint(0, model.embedding.num_embeddings, (T, 3))
    lengths = torch.tensor([10, 4, 7])
    if fmt == "onnx":
        got = session(result.path).run(None, {"x" if task == "classify" else "ids": x.numpy(),
                                               "lengths": lengths.numpy()})[0]
    else:
        got = torch.export.load(str(result.path)).module()(x, lengths).detach().numpy()
    with torch.no_grad():
        alone = torch.cat([model(x[: int(n), b : b + 1], torch.tensor([int(n)])) for b, n in enumerate(lengths)])
    np.testing.assert_allclose(got, alone.numpy(), atol=2e-5, rtol=1e-4)
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["classes"] == list(job.classes)
    if fmt == "onnx":
        assert sidecar["dimensions"][sidecar["inputs"][0]]["0"] == "fixed at 10 (time)"


def test_a_speech_model_exports_whole_and_unidirectional_streams(trained, tmp_path):
    run_dir = trained("speech")
    model, job = load(run_dir)
    with pytest.raises(ValueError, match="bidirectional"):
        rk.export_run(run_dir, "onnx", streaming=True)
    whole = rk.export_run(run_dir, "onnx", out=tmp_path / "s.onnx")
    features, lengths = torch.randn(24, 2, job.config.features.size), torch.tensor([24, 15])
    with torch.no_grad():
        expected, out_lengths = model(features, lengths)
    got = session(whole.path).run(None, {"features": features.numpy(), "lengths": lengths.numpy()})
    np.testing.assert_array_equal(got[1], out_lengths.numpy())
    for b, n in enumerate(out_lengths.tolist()):  # past each output length is padding
        np.testing.assert_allclose(got[0][:n, b], expected[:n, b].numpy(), atol=2e-5, rtol=1e-4)
    one_way = trained("speech", {"model": {"recurrent": {"hidden_size": 8, "num_layers": 1, "bidirectional": False}}})
    model, job = load(one_way)
    step = rk.export_run(one_way, "onnx", streaming=True, out=tmp_path / "step.onnx")
    k, F = job.config.model.subsample, job.config.features.size
    features = torch.randn(8 * k, 2, F)
    with torch.no_grad():
        expected, _ = model(features, torch.tensor([8 * k, 8 * k]))
    stacked = features.view(8, k, 2, F).permute(0, 2, 1, 3).reshape(8, 2, k * F)  # k frames per step, in order
    zeros = [np.zeros((1, 2, 8), np.float32)] * 2
    got, _ = stream_in_onnx(step.path, stacked.numpy(), zeros)
    np.testing.assert_allclose(got, expected.numpy(), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("task", ["translate", "video_caption"])
def test_an_encoder_and_a_decoder_step_in_onnx_decode_greedily_as_pytorch(trained, tmp_path, task):
    """The encoder file, then the step file once per token from <bos>: the greedy outputs of
    PyTorch's decoder, token for token."""
    from rnnkit.models.seq2seq import greedy_decode

    run_dir = trained(task)
    model, job = load(run_dir)
    encoder = rk.export_run(run_dir, "onnx", out=tmp_path / "encoder.onnx")
    step = rk.export_run(run_dir, "onnx", streaming=True, out=tmp_path / "step.onnx")
    extra = json.loads(step.sidecar.read_text())
    bos, end = extra["bos"], extra["end"]
    if task == "translate":
        source = torch.randint(0, model.source_embedding.num_embeddings, (12, 3))
    else:
        data = job.config.data
        source = torch.rand(12, 3, data.channels, data.size, data.size)
    lengths = torch.tensor([12, 12, 12])  # the encoder file's fixed length (its loop is unrolled)
    with torch.no_grad():
        expected, _ = greedy_decode(model, source, lengths, bos, end, 6)
    enc, dec = session(encoder.path), session(step.path)
    encoded = dict(zip([o.name for o in enc.get_outputs()], enc.run(None, {enc.get_inputs()[0].name: source.numpy(),
                                                                            "lengths": lengths.numpy()})))
    carried = {name: encoded[name] for name in encoded if name.startswith("state.") or name == "feed"}
    token = np.full(3, bos, dtype=np.int64)
    outputs = []
    for _ in range(6):
        feeds = {i.name: (token if i.name == "token" else carried[i.name] if i.name in carried else encoded[i.name])
                 for i in dec.get_inputs()}
        results = dict(zip([o.name for o in dec.get_outputs()], dec.run(None, feeds)))
        token = results["logits"].argmax(-1)
        outputs.append(token)
        carried = {n.replace("next_", ""): v for n, v in results.items() if n.startswith("next_")}
    got = [row[: row.index(end)] if end in row else row for row in np.stack(outputs).T.tolist()]  # cut at </s>
    assert got == expected
    assert [i.name for i in dec.get_inputs()][0] == "token" and "memory" in encoded


def test_video_clips_export_for_action_and_prediction(trained, tmp_path):
    run_dir = trained("video_action")
    model, job = load(run_dir)
    data = job.config.data
    result = rk.export_run(run_dir, "exported-program", out=tmp_path / "action.pt2")
    clips, lengths = torch.rand(8, 3, data.channels, data.size, data.size), torch.tensor([8, 5, 6])
    with torch.no_grad():
        expected = model(clips, lengths)
    torch.testing.assert_close(torch.export.load(str(result.path)).module()(clips, lengths), expected,
                               rtol=1e-5, atol=1e-6)
    run_dir = trained("video_prediction")
    model, job = load(run_dir)
    data = job.config.data
    result = rk.export_run(run_dir, "onnx", out=tmp_path / "prediction.onnx")
    frames = torch.rand(data.input_frames, 2, data.channels, data.size, data.size)
    with torch.no_grad():
        expected = model(frames, data.output_frames)
    got = session(result.path).run(None, {"frames": frames.numpy()})[0]
    np.testing.assert_allclose(got, expected.numpy(), atol=2e-5, rtol=1e-4)


def test_what_cannot_be_exported_is_refused_by_name(trained, tmp_path):
    with pytest.raises(ValueError, match="task 'adding' has no export yet; exported tasks"):
        rk.export_run(trained("adding"))
    run_dir = trained("classify")
    with pytest.raises(ValueError, match="reads a whole sequence"):
        rk.export_run(run_dir, streaming=True)
    with pytest.raises(ValueError, match="--steps 1: expected an integer >= 2"):
        rk.export_run(run_dir, steps=1)
    with pytest.raises(ValueError, match="ending in .pt2"):
        rk.export_run(run_dir, "exported-program", out=tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="--format 'tflite'"):
        rk.export_run(run_dir, "tflite")
