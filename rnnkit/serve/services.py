"""What a server does for each task: its requests (pydantic models, unknown keys refused), its
one-shot endpoints, and for the streaming tasks its sessions.

| task | one-shot | a session step takes -> gives |
|---|---|---|
| language | ``POST /generate`` | text to read and a count of tokens to sample -> the sampled text |
| anomaly | ``POST /score`` | new points -> their scores and flags |
| forecast | ``POST /forecast`` | new observations -> the forecast from the newest |
| sentiment | ``POST /predict`` | - |
| translate | ``POST /translate`` | - |
| speech | ``POST /transcribe`` (a WAV file as the body) | - |

A streaming service turns a session's record (plain data: tensors, arrays, numbers; see
:mod:`rnnkit.serve.records`) and a step request into an output and the next record, for many
sessions in one batched call (:meth:`Service.step_many`); each session gets what it would get
alone. The work itself is the tasks' library code (:mod:`rnnkit.tasks.language.stream`,
:meth:`rnnkit.tasks.anomaly.Detector.update_many`, :func:`rnnkit.tasks.forecast.forecast_frames`).
"""

from __future__ import annotations

import math
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnkit.tasks.core import run
from rnnkit.training import model_device

MAX_TOKENS = 10_000  # the most tokens one request may sample
MAX_POINTS = 100_000  # the most points (rows) one request may send
MAX_TEXTS = 1_000


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Empty(Request):
    """No fields."""


@dataclass(frozen=True)
class Route:
    """A one-shot endpoint: ``POST path`` with a ``body`` (a :class:`Request` model, or ``bytes``
    for a raw upload) -> ``handler(body)``'s JSON."""

    path: str
    body: Any
    handler: Callable[[Any], dict[str, Any]]
    summary: str


def finite(values: Any) -> Any:
    """Numbers for JSON: NaN and infinities become ``null``."""
    array = np.asarray(values, dtype=np.float64)
    out = array.tolist()

    def clean(v: Any) -> Any:
        return [clean(x) for x in v] if isinstance(v, list) else (v if math.isfinite(v) else None)

    return clean(out)


def times(stamps: np.ndarray) -> list[Any]:
    if np.issubdtype(np.asarray(stamps).dtype, np.datetime64):
        return [str(np.datetime_as_string(t, unit="s")) for t in stamps]
    return [float(t) for t in stamps]


class Service:
    """A trained run behind a server; subclasses per task (see the module docstring)."""

    task = ""
    CreateRequest: type[Request] = Empty
    StepRequest: type[Request] = Empty

    def __init__(self, run_dir: Path, config: Any) -> None:
        self.run_dir, self.config = run_dir, config
        self.device = None

    @property
    def streams(self) -> bool:
        return type(self).step_many is not Service.step_many

    def routes(self) -> list[Route]:
        return []

    def new_record(self, request: Any) -> Any:
        raise NotImplementedError

    def reset(self, record: Any) -> Any:
        """A session's record back at its start (what ``POST /sessions/ID/reset`` stores)."""
        return self.new_record(self.CreateRequest())

    def step_many(self, records: Sequence[Any], requests: Sequence[Any]) -> list[tuple[dict[str, Any], Any]]:
        raise NotImplementedError

    def describe(self, record: Any) -> dict[str, Any]:
        """A session's state as JSON (what ``GET /sessions/ID`` shows)."""
        return {}


# -- language -------------------------------------------------------------------------------------
class GenerateRequest(Request):
    prompt: str = Field(min_length=1, description="the text to continue")
    length: int = Field(200, ge=0, le=MAX_TOKENS, description="tokens to sample")
    temperature: float = Field(1.0, gt=0, allow_inf_nan=False)
    top_k: int = Field(0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int | None = None


class TextSessionRequest(Request):
    seed: int | None = Field(None, description="the session's sampling seed (random when left out)")
    temperature: float = Field(1.0, gt=0, allow_inf_nan=False)
    top_k: int = Field(0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)


class TextStepRequest(Request):
    text: str = Field("", description="text to read into the state first")
    generate: int = Field(0, ge=0, le=MAX_TOKENS, description="tokens to sample after it")


class LanguageService(Service):
    task = "language"
    CreateRequest = TextSessionRequest
    StepRequest = TextStepRequest

    def __init__(self, run_dir: Path, config: Any, allow_unfinished: bool = False) -> None:
        from rnnkit.tasks import language

        super().__init__(run_dir, config)
        self.language = language
        self.model, self.vocab = language.load_generator(run_dir, allow_unfinished)
        self.device = model_device(self.model)

    def routes(self) -> list[Route]:
        def generate(body: GenerateRequest) -> dict[str, Any]:
            text = self.language.generate(self.model, self.vocab, body.prompt, body.length, body.temperature,
                                          body.top_k, body.top_p, body.seed)
            return {"text": text}

        return [Route("/generate", GenerateRequest, generate, "text sampled after a prompt")]

    def new_record(self, request: TextSessionRequest) -> dict[str, Any]:
        seed = request.seed if request.seed is not None else secrets.randbits(62)
        return {"seed": seed, "state": None, "logits": None, "sampled": 0,
                "settings": {"temperature": request.temperature, "top_k": request.top_k, "top_p": request.top_p}}

    def reset(self, record: dict[str, Any]) -> dict[str, Any]:  # the same seed and settings: the same text again
        return {**record, "state": None, "logits": None, "sampled": 0}

    def step_many(self, records: Sequence[dict[str, Any]], requests: Sequence[TextStepRequest]
                  ) -> list[tuple[dict[str, Any], Any]]:
        lang = self.language
        streams = [lang.TextStream(r["seed"], r["state"], r["logits"], r["sampled"]) for r in records]
        asks = [lang.Advance(q.text, q.generate, **r["settings"]) for r, q in zip(records, requests)]
        texts = lang.advance_many(self.model, self.vocab, streams, asks)
        return [({"text": text, "sampled": s.sampled},
                 {**r, "state": s.state, "logits": s.logits, "sampled": s.sampled})
                for text, s, r in zip(texts, streams, records)]

    def describe(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"seed": record["seed"], "sampled": record["sampled"], "settings": record["settings"],
                "has_read_text": record["logits"] is not None}


# -- anomaly ---------------------------------------------------------------------------------------
Points = list[list[float]] | list[float]


class PointsRequest(Request):
    values: Points = Field(min_length=1, max_length=MAX_POINTS,
                           description="points in the sensor's units: one row per point, one number per channel "
                                       "(a flat list for one channel)")


class AnomalyService(Service):
    task = "anomaly"
    StepRequest = PointsRequest

    def __init__(self, run_dir: Path, config: Any, allow_unfinished: bool = False) -> None:
        from rnnkit.tasks import anomaly

        super().__init__(run_dir, config)
        _, job = run.load_trained(run_dir, "anomaly", "anomaly detection", allow_unfinished)
        self.detector, self.threshold_rule = anomaly.calibrate_on_validation(job)  # fit and validation parts only
        self.channels = len(self.detector.loc)
        self.Stream = anomaly.DetectorStream
        self.device = model_device(self.detector.model)

    def _rows(self, values: Points) -> np.ndarray:
        rows = np.asarray(values, dtype=np.float64)
        if rows.ndim == 1:
            rows = rows[:, None] if self.channels == 1 else rows[None, :]
        if rows.ndim != 2 or rows.shape[1] != self.channels:
            raise ValueError(f"values: expected rows of {self.channels} number(s) (one per channel), got shape "
                             f"{rows.shape}")
        if not np.isfinite(rows).all():
            raise ValueError("values: expected finite numbers")
        return rows

    def _flags(self, scores: Sequence[float]) -> list[bool]:
        return [bool(f) for f in self.detector.flag(np.asarray(scores, dtype=np.float64))]

    def routes(self) -> list[Route]:
        def score(body: PointsRequest) -> dict[str, Any]:
            scores = self.detector.score(self._rows(body.values))
            return {"scores": finite(scores), "flagged": self._flags(scores), "threshold": self.detector.threshold}

        return [Route("/score", PointsRequest, score, "scores and flags of a whole series, from its first point")]

    def new_record(self, request: Empty) -> dict[str, Any]:
        stream = self.detector.new_stream()
        return {"state": stream.state, "predictions": stream.predictions, "recent": stream.recent,
                "post": stream.post, "points": 0}

    def step_many(self, records: Sequence[dict[str, Any]], requests: Sequence[PointsRequest]
                  ) -> list[tuple[dict[str, Any], Any]]:
        rows = [self._rows(q.values) for q in requests]
        streams = [self.Stream(r["state"], list(r["predictions"]), list(r["recent"]), dict(r["post"]))
                   for r in records]
        scores: list[list[float]] = [[] for _ in records]
        for t in range(max(len(x) for x in rows)):  # point t of every request that has one, in one batch
            active = [i for i, x in enumerate(rows) if t < len(x)]
            for i, s in zip(active, self.detector.update_many([streams[i] for i in active],
                                                             [rows[i][t] for i in active])):
                scores[i].append(s)
        return [({"scores": finite(sc), "flagged": self._flags(sc), "threshold": self.detector.threshold},
                 {"state": s.state, "predictions": s.predictions, "recent": s.recent, "post": s.post,
                  "points": r["points"] + len(x)})
                for sc, s, r, x in zip(scores, streams, records, rows)]

    def describe(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"points": record["points"], "threshold": self.detector.threshold,
                "error_level": record["post"].get("level"), "threshold_rule": self.threshold_rule}


# -- forecast --------------------------------------------------------------------------------------
class ForecastRequest(Request):
    horizon: int = Field(ge=1, le=10_000, description="steps to forecast")
    values: Points | None = Field(None, max_length=MAX_POINTS,
                                  description="newer observations after the run's series (rows of one value per series)")


class ObservationsRequest(Request):
    values: Points = Field(min_length=1, max_length=MAX_POINTS,
                           description="new observations: one row per time step, one value per series")
    horizon: int | None = Field(None, ge=1, le=10_000, description="steps to forecast (default: the trained horizon)")


class ForecastService(Service):
    task = "forecast"
    StepRequest = ObservationsRequest

    def __init__(self, run_dir: Path, config: Any, allow_unfinished: bool = False) -> None:
        from rnnkit.tasks import forecast

        super().__init__(run_dir, config)
        self.forecast = forecast
        _, self.job = run.load_trained(run_dir, "forecast", "forecasting", allow_unfinished)
        self.device = model_device(self.job.model)
        self.start = forecast.start_stream(self.job)  # refuses a series with covariates of its own

    def _result(self, result: dict[str, Any]) -> dict[str, Any]:
        return {"time": times(result["time"]), "names": result["names"], "point": finite(result["point"]),
                "lower": None if result["lower"] is None else finite(result["lower"]),
                "upper": None if result["upper"] is None else finite(result["upper"]), "level": result["level"]}

    def routes(self) -> list[Route]:
        def forecast(body: ForecastRequest) -> dict[str, Any]:
            frame = self.start if body.values is None else self.forecast.extend_stream(self.job, self.start,
                                                                                       body.values)
            return self._result(self.forecast.forecast_frames(self.job, [frame], body.horizon)[0])

        return [Route("/forecast", ForecastRequest, forecast,
                      "a forecast from the end of the run's series (and of newer observations, if given)")]

    def new_record(self, request: Empty) -> dict[str, Any]:
        return {"time": self.start.time, "values": self.start.values, "covariates": self.start.covariates,
                "observations": 0}

    def step_many(self, records: Sequence[dict[str, Any]], requests: Sequence[ObservationsRequest]
                  ) -> list[tuple[dict[str, Any], Any]]:
        frames = [self.forecast.extend_stream(
                      self.job, replace(self.start, time=r["time"], values=r["values"], covariates=r["covariates"]),
                      q.values) for r, q in zip(records, requests)]
        horizons = [q.horizon or self.job.config.data.horizon for q in requests]
        results: list[dict[str, Any]] = [{} for _ in records]
        for horizon in sorted(set(horizons)):  # one batched pass per horizon asked for
            rows = [i for i, h in enumerate(horizons) if h == horizon]
            for i, result in zip(rows, self.forecast.forecast_frames(self.job, [frames[i] for i in rows], horizon)):
                results[i] = self._result(result)
        return [(result, {"time": f.time, "values": f.values, "covariates": f.covariates,
                          "observations": r["observations"] + len(q.values)})
                for result, f, r, q in zip(results, frames, records, requests)]

    def describe(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"observations": record["observations"], "last_time": times(record["time"][-1:])[0],
                "last_values": finite(record["values"][-1])}


# -- one-shot tasks --------------------------------------------------------------------------------
class TextsRequest(Request):
    texts: list[str] = Field(min_length=1, max_length=MAX_TEXTS)


class TranslateRequest(TextsRequest):
    beam: int | None = Field(None, ge=1, le=64, description="beam width (default: the run's)")


class SentimentService(Service):
    task = "sentiment"

    def __init__(self, run_dir: Path, config: Any, allow_unfinished: bool = False) -> None:
        from rnnkit.tasks import sentiment

        super().__init__(run_dir, config)
        self.classifier = sentiment.load_classifier(run_dir, allow_unfinished)
        self.device = model_device(self.classifier.model)

    def routes(self) -> list[Route]:
        def predict(body: TextsRequest) -> dict[str, Any]:
            classes = self.classifier.classes
            probabilities = self.classifier(body.texts).tolist()
            return {"classes": classes,
                    "predictions": [{"label": classes[int(np.argmax(row))], "probabilities": row}
                                    for row in probabilities]}

        return [Route("/predict", TextsRequest, predict, "the class of each text, with the probabilities")]


class TranslateService(Service):
    task = "translate"

    def __init__(self, run_dir: Path, config: Any, allow_unfinished: bool = False) -> None:
        from rnnkit.tasks import translate

        super().__init__(run_dir, config)
        self.translate = translate
        self.model, self.sides, self.run_config = translate.load_translator(run_dir, allow_unfinished)
        self.device = model_device(self.model)

    def routes(self) -> list[Route]:
        def translate(body: TranslateRequest) -> dict[str, Any]:
            outputs = self.translate.translate_texts(self.model, self.sides, self.run_config, body.texts, body.beam)
            return {"outputs": outputs}

        return [Route("/translate", TranslateRequest, translate, "the outputs of texts (beam search)")]


class SpeechService(Service):
    task = "speech"

    def __init__(self, run_dir: Path, config: Any, allow_unfinished: bool = False) -> None:
        from rnnkit.tasks import speech

        super().__init__(run_dir, config)
        self.speech = speech
        self.model, self.labels, self.run_config = speech.load_transcriber(run_dir, allow_unfinished)
        self.device = model_device(self.model)

    def routes(self) -> list[Route]:
        def transcribe(body: bytes) -> dict[str, Any]:
            if not body.startswith(b"RIFF") or body[8:12] != b"WAVE":
                raise ValueError("expected a WAV file as the request body (RIFF/WAVE), e.g. curl --data-binary "
                                 "@clip.wav -H 'Content-Type: audio/wav'")
            with tempfile.TemporaryDirectory(prefix="rnnkit-serve-") as folder:
                path = Path(folder) / "upload.wav"
                path.write_bytes(body)
                text = self.speech.transcribe_files(self.model, self.labels, self.run_config, [path])[0]
            return {"text": text}

        return [Route("/transcribe", bytes, transcribe, "the transcript of a WAV file sent as the body")]


SERVICES: dict[str, type[Service]] = {
    s.task: s for s in (LanguageService, AnomalyService, ForecastService, SentimentService, TranslateService,
                        SpeechService)
}


def load_service(run_dir: str | Path, allow_unfinished: bool = False) -> Service:
    """The :class:`Service` of a trained run (its task read from ``config.yaml``)."""
    run_dir = Path(run_dir)
    config = run.load_run_config(run_dir)
    if config.task not in SERVICES:
        raise ValueError(f"{run_dir}: task {config.task!r} has no server yet; served tasks: {sorted(SERVICES)}")
    return SERVICES[config.task](run_dir, config, allow_unfinished)
