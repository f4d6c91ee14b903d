"""What a forecasting run can set: the series and its parts, the model, training.

The series is split by time (``data.test_size`` and ``data.validation_size`` points at the
end; see :mod:`rnnkit.tasks.forecast.task`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.config import check_one_source
from rnnkit.data.timeseries import Missing, Spacing
from rnnkit.models.forecaster import ForecasterConfig
from rnnkit.training import EarlyStoppingConfig, TrainConfig


@dataclass
class ForecastDataConfig:
    """Which series, how it is cut into windows and where the backtest origins are."""

    name: str | None = "airline"  # a named set (rnnkit.data.datasets), or null and ``path``
    path: str | None = None  # your own CSV
    time_column: str | None = None  # null: rows are equally spaced steps
    value_columns: list[str] | None = None  # null: every numeric column but covariates
    covariate_columns: list[str] = field(default_factory=list)  # known in advance
    calendar: list[str] = field(default_factory=list)  # hour, dayofweek, dayofyear, month
    missing: Missing = "interpolate"
    spacing: Spacing = "infer"
    transform: Literal["none", "log"] = "none"  # log: for positive series that grow multiplicatively
    scaling: Literal["window", "global"] = "window"  # per series: by each input window, or by the training part
    # m: the seasonal naive baseline and MASE's scale (1: the naive forecast); auto: from the time
    # column's spacing (hourly 24, half-hourly 48, daily 7, weekly 52, monthly 12, quarterly 4, else 1)
    season: int | Literal["auto"] = "auto"
    anchor: Literal["none", "last", "season"] = "last"  # the model forecasts the change from this forecast
    window: int = 48  # history steps the encoder reads
    horizon: int = 12  # K
    test_size: int = 36  # the last points, forecast from rolling origins
    validation_size: int = 24  # the points before them: early stopping and the kept weights (0: none)
    stride: int = 1  # steps between origins
    interval: float = 0.8  # central prediction interval (Gaussian, or quantile models that learn its bounds)

    def __post_init__(self) -> None:
        check_one_source("data", self.name, self.path)
        for key in ("season", "window", "horizon", "test_size", "stride"):
            value = getattr(self, key)
            if value != "auto" and value < 1:
                raise ValueError(f"data.{key}: expected a positive integer, got {value}")
        if self.test_size < self.horizon:
            raise ValueError(f"data.test_size: expected at least the horizon ({self.horizon}), got {self.test_size}")
        if self.validation_size and self.validation_size < self.horizon:
            raise ValueError(f"data.validation_size: expected 0 or at least the horizon ({self.horizon}), "
                             f"got {self.validation_size}")
        if self.anchor == "season" and self.season != "auto" and self.window < self.season:
            raise ValueError(f"data.anchor=season: expected window >= season ({self.season}), got {self.window}")
        if not 0 < self.interval < 1:
            raise ValueError(f"data.interval: expected a level in (0, 1), got {self.interval}")


@dataclass
class ForecastConfig:
    task: Literal["forecast"] = "forecast"
    run_dir: str | None = None
    data: ForecastDataConfig = field(default_factory=ForecastDataConfig)
    model: ForecasterConfig = field(default_factory=ForecasterConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=50, min_steps=1000, steps=20_000, eval_every=10_000, batch_size=64,
        early_stopping=EarlyStoppingConfig(metric="val_mase", patience=5, restore_best=True)))

    def __post_init__(self) -> None:
        if self.train.early_stopping.metric and not self.data.validation_size:
            raise ValueError(f"train.early_stopping.metric: {self.train.early_stopping.metric!r} needs validation "
                             f"origins; expected data.validation_size >= the horizon ({self.data.horizon}), or no "
                             f"early stopping (train.early_stopping.metric: '')")
        if self.model.distribution == "quantile":
            self.model.check_interval(self.data.interval, "data.interval")
        if self.model.smoothing == "es" and (self.data.scaling != "global" or self.data.anchor != "none"):
            raise ValueError(f"model.smoothing=es: the smoothing learns one seasonal profile and the level itself; "
                             f"expected data.scaling: global (got {self.data.scaling}) and data.anchor: none "
                             f"(got {self.data.anchor})")
