"""Each task's endpoints in process (FastAPI's test client): what the library gives, bad input a
4xx that says why, sessions that continue, reset and close."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from rnnkit.serve import ServerConfig, create_app, load_service
from rnnkit.tasks import forecast, language


def client(run_dir, **settings):
    return TestClient(create_app(run_dir, ServerConfig(**settings)))


def test_language_sessions_continue_reset_and_close(trained):
    run_dir = trained("language")
    model, vocab = language.load_generator(run_dir)
    stream = language.TextStream(seed=5)
    expected = [language.advance_many(model, vocab, [stream], [language.Advance("the ", 4, top_k=5)])[0],
                language.advance_many(model, vocab, [stream], [language.Advance("", 6, top_k=5)])[0]]
    with client(run_dir, max_sessions=2) as c:
        sid = c.post("/sessions", json={"seed": 5, "top_k": 5}).json()["session"]
        got = [c.post(f"/sessions/{sid}/step", json={"text": "the ", "generate": 4}).json()["text"],
               c.post(f"/sessions/{sid}/step", json={"generate": 6}).json()]
        assert got[0] == expected[0] and got[1] == {"text": expected[1], "sampled": 10}
        assert c.get(f"/sessions/{sid}").json()["state"] == {
            "seed": 5, "sampled": 10, "settings": {"temperature": 1.0, "top_k": 5, "top_p": 1.0}, "has_read_text": True}
        assert c.post(f"/sessions/{sid}/reset").json()["state"]["sampled"] == 0
        assert c.post(f"/sessions/{sid}/step", json={"text": "the ", "generate": 4}).json()["text"] == expected[0]
        # bad input: a 4xx that names the problem, and the session unchanged
        assert c.post(f"/sessions/{sid}/step", json={"generate": 4, "tokens": 1}).status_code == 422
        assert c.post(f"/sessions/{sid}/step", json={"generate": -1}).status_code == 422
        assert c.post("/sessions", json={"temperature": 0}).status_code == 422
        fresh = c.post("/sessions").json()["session"]
        response = c.post(f"/sessions/{fresh}/step", json={"generate": 3})
        assert response.status_code == 422 and "read no text" in response.json()["detail"]
        full = c.post("/sessions")
        assert full.status_code == 429 and "2 sessions are open" in full.json()["detail"]
        assert c.delete(f"/sessions/{fresh}").json() == {"session": fresh, "deleted": True}
        missing = c.post(f"/sessions/{fresh}/step", json={"generate": 1})
        assert missing.status_code == 404 and "no session" in missing.json()["detail"]
        one_shot = c.post("/generate", json={"prompt": "the ", "length": 8, "seed": 2}).json()["text"]
        assert one_shot == language.generate(model, vocab, "the ", 8, seed=2)
        assert c.post("/generate", json={"prompt": "", "length": 8}).status_code == 422
        metrics = c.get("/metrics").text
        assert 'rnnkit_requests_total{route="/sessions/{sid}/step",status="200"} 3.0' in metrics
        assert 'rnnkit_requests_total{route="/sessions",status="429"} 1.0' in metrics
        assert "rnnkit_sessions 1.0" in metrics and "rnnkit_batch_size_count" in metrics
        assert c.get("/health").json() == {"status": "ok", "task": "language"}
        assert c.get("/").json()["task"] == "language"


def test_anomaly_sessions_score_as_the_detector_streams(trained):
    run_dir = trained("anomaly")
    service = load_service(run_dir)
    rng = np.random.default_rng(0)
    values = rng.normal(size=15)
    detector = service.detector
    detector.reset()
    alone = [detector.update(v) for v in values]
    with client(run_dir) as c:
        sid = c.post("/sessions").json()["session"]
        first = c.post(f"/sessions/{sid}/step", json={"values": values[:6].tolist()}).json()
        second = c.post(f"/sessions/{sid}/step", json={"values": [[v] for v in values[6:]]}).json()
        scores = first["scores"] + second["scores"]
        assert scores[0] is None and len(scores) == 15
        np.testing.assert_allclose(scores[1:], alone[1:], rtol=1e-5)
        assert second["flagged"] == [bool(s >= detector.threshold) for s in alone[6:]]
        whole = c.post("/score", json={"values": values.tolist()}).json()
        np.testing.assert_allclose(whole["scores"][1:], detector.score(values[:, None])[1:], rtol=1e-6)
        bad = c.post(f"/sessions/{sid}/step", json={"values": [[1.0, 2.0]]})
        assert bad.status_code == 422 and "rows of 1 number" in bad.json()["detail"]
        assert c.post(f"/sessions/{sid}/step", json={"values": []}).status_code == 422
        assert c.get(f"/sessions/{sid}").json()["state"]["points"] == 15


def test_forecast_sessions_forecast_from_their_newest_observation(trained):
    run_dir = trained("forecast")
    service = load_service(run_dir)
    job = service.job
    frame = forecast.extend_stream(job, forecast.start_stream(job), [[10.2], [10.6]])
    expected = forecast.forecast_frames(job, [frame], 3)[0]
    with client(run_dir) as c:
        sid = c.post("/sessions").json()["session"]
        c.post(f"/sessions/{sid}/step", json={"values": [10.2]})
        got = c.post(f"/sessions/{sid}/step", json={"values": [10.6], "horizon": 3}).json()
        np.testing.assert_allclose(np.array(got["point"]), expected["point"], rtol=1e-5)
        assert got["time"] == [float(t) for t in expected["time"]] and got["names"] == ["y"]
        whole = c.post("/forecast", json={"horizon": 2}).json()
        np.testing.assert_allclose(np.array(whole["point"]), forecast.forecast_future(job, 2)["point"], rtol=1e-5)
        too_far = c.post("/forecast", json={"horizon": 40})
        assert too_far.status_code == 422 and "direct head" in too_far.json()["detail"]
        nan = c.post(f"/sessions/{sid}/step", content='{"values": [NaN]}', headers={"Content-Type": "application/json"})
        assert nan.status_code == 422 and "finite" in nan.json()["detail"]


def test_sentiment_translate_and_speech_answer_as_the_library(trained, tmp_path):
    from rnnkit.tasks import sentiment, speech, translate

    run_dir = trained("sentiment")
    with client(run_dir) as c:
        got = c.post("/predict", json={"texts": ["good fine film", "bad awful"]}).json()
        classes, probabilities = sentiment.predict_run(run_dir, ["good fine film", "bad awful"])
        assert got["classes"] == classes
        np.testing.assert_allclose([p["probabilities"] for p in got["predictions"]], probabilities.numpy(), rtol=1e-6)
        assert c.post("/predict", json={"texts": []}).status_code == 422
        assert c.post("/sessions").status_code in (404, 405)  # no sessions for a one-shot task
    run_dir = trained("translate")
    with client(run_dir) as c:
        got = c.post("/translate", json={"texts": ["ag", "fk"], "beam": 1}).json()
        assert got["outputs"] == translate.translate_run(run_dir, ["ag", "fk"], beam=1)
    run_dir = trained("speech")
    wav = sorted(run_dir.parent.glob("*.wav"))[0]
    with client(run_dir) as c:
        got = c.post("/transcribe", content=wav.read_bytes(), headers={"Content-Type": "audio/wav"}).json()
        model, labels, config = speech.load_transcriber(run_dir)
        assert got == {"text": speech.transcribe_files(model, labels, config, [wav])[0]}
        bad = c.post("/transcribe", content=b"not a wav")
        assert bad.status_code == 422 and "WAV" in bad.json()["detail"]


def test_a_task_without_a_server_is_refused_by_name(trained):
    with pytest.raises(ValueError, match="task 'classify' has no server yet; served tasks"):
        load_service(trained("classify"))
