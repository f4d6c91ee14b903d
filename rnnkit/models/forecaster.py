"""Multi-step forecasting: a recurrent encoder over a window of history and a multi-step head.

Shape legend: W window (history steps), K horizon, B batch, S series, C known-in-advance
covariates, I encoder inputs per step, P outputs per value (1 point, 2 Gaussian, Q quantiles).

Two heads (``head=``):

- ``"direct"``: one linear map from the encoder's final state (and the covariates of all K
  future steps) to all K steps at once. No error feedback between steps.
- ``"seq2seq"``: a decoder of the same cell, started from the encoder's final state, run
  one step per future step: ``input_k = [y_{k-1}, covariates_k]``. Training feeds the true
  ``y_{k-1}`` (teacher forcing, the whole horizon in one pass); forecasting feeds back its
  own point forecast, so it can run past the horizon it was trained on.

``smoothing="es"``: the ES-RNN hybrid (Smyl 2020, the M4 winner), in the model's units:
per series a learned seasonal profile (``season`` values, centred) and a learned smoothing
coefficient ``alpha``; the window is deseasonalized, its level is the exponential smoothing of
what is left (``l = sum_j alpha (1 - alpha)^(W-1-j) z_j``, started at the window's first value),
the encoder reads the window less its level, and the head corrects the smoothing's own
forecast (the level plus the profile's future values: added like ``anchor``). Both halves learn
together by the forecasting loss. Applied to log values (``data.transform: log``) the profile
and the level are multiplicative, as in Smyl's model.

Three output distributions (``distribution=``): ``"point"`` (MAE or MSE), ``"gaussian"``
(mean and standard deviation, negative log-likelihood), ``"quantile"`` (one output per
quantile level, pinball loss). The model works on scaled values; the task scales inputs
and undoes the scaling of the outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.functional import sequence_summary
from rnnkit.models.sequence import RecurrentConfig, build_recurrent

Distribution = Literal["point", "gaussian", "quantile"]


@dataclass
class ForecasterConfig:
    """The recurrent encoder (and the seq2seq decoder: the same cell and size) and the head with its loss."""

    recurrent: RecurrentConfig = field(default_factory=lambda: RecurrentConfig(hidden_size=64))
    head: Literal["direct", "seq2seq"] = "direct"
    distribution: Distribution = "point"
    point_loss: Literal["mae", "mse"] = "mae"
    quantiles: list[float] = field(default_factory=lambda: [0.1, 0.5, 0.9])
    smoothing: Literal["none", "es"] = "none"  # es: the ES-RNN hybrid (direct head)

    def __post_init__(self) -> None:
        if self.smoothing == "es" and self.head != "direct":
            raise ValueError("model.smoothing=es: the exponential smoothing's forecast is corrected by the direct "
                             "head; expected head: direct")
        if self.distribution == "quantile":
            q = self.quantiles
            if not q or any(not 0 < v < 1 for v in q) or sorted(set(q)) != list(q):
                raise ValueError(f"model.quantiles: expected increasing levels in (0, 1), got {q}")
        if self.head == "seq2seq" and self.recurrent.bidirectional:
            raise ValueError("model.recurrent.bidirectional: the seq2seq head continues the encoder's state forward in "
                             "time; expected bidirectional: false (or head: direct)")

    def check_interval(self, level: float, where: str = "interval") -> None:
        """A quantile model gives the central ``level`` interval only between the quantiles it
        learns: its bounds ``0.5 -/+ level / 2`` must lie within them (reading between two
        learned quantiles interpolates; reading past the outermost would be a guess)."""
        low, high = 0.5 - level / 2, 0.5 + level / 2
        q = self.quantiles
        if low < q[0] - 1e-9 or high > q[-1] + 1e-9:
            raise ValueError(f"{where}: a {level:.0%} interval needs the quantiles {low:.4g} and {high:.4g}, outside "
                             f"the learned model.quantiles {q}; add them to model.quantiles or ask for at most "
                             f"a {q[-1] - q[0]:.0%} interval (with symmetric quantiles)")

    @property
    def outputs_per_value(self) -> int:
        return {"point": 1, "gaussian": 2, "quantile": len(self.quantiles)}[self.distribution]


class ExponentialSmoothing(nn.Module):
    """The ES half of ES-RNN (see the module docstring), per series: ``values (W, B, S)`` and
    each window's first position ``start (B,)`` -> ``(values less seasonality and level (W, B,
    S), the smoothing's forecast (K, B, S))``. ``alpha`` starts at 0.5 and the profile at zero."""

    def __init__(self, num_series: int, season: int) -> None:
        super().__init__()
        if season < 1:
            raise ValueError(f"season: expected a positive integer, got {season}")
        self.season = season
        self.alpha_logit = nn.Parameter(torch.zeros(num_series))
        self.profile = nn.Parameter(torch.zeros(num_series, season)) if season > 1 else None

    @property
    def alpha(self) -> Tensor:
        return torch.sigmoid(self.alpha_logit)

    def seasonal(self, positions: Tensor) -> Tensor:
        """The centred profile at ``positions (N, B)`` -> ``(N, B, S)``."""
        if self.profile is None:
            return positions.new_zeros(*positions.shape, self.alpha_logit.shape[0], dtype=self.alpha_logit.dtype)
        centred = self.profile - self.profile.mean(dim=1, keepdim=True)  # (S, m)
        return centred[:, positions % self.season].permute(1, 2, 0)

    def forward(self, values: Tensor, start: Tensor, horizon: int) -> tuple[Tensor, Tensor]:
        W = values.shape[0]
        steps = torch.arange(W + horizon, device=values.device)[:, None] + start[None, :]  # (W + K, B)
        season = self.seasonal(steps)
        z = values - season[:W]  # deseasonalized
        alpha = self.alpha  # (S,)
        power = torch.arange(W - 1, -1, -1, device=values.device, dtype=values.dtype)[:, None]  # W-1 .. 0
        weights = alpha * (1 - alpha) ** power  # (W, S): step j weighs alpha (1 - alpha)^(W-1-j)
        weights = torch.cat([(1 - alpha)[None] ** (W - 1), weights[1:]], dim=0)  # the start carries the rest
        level = (weights[:, None, :] * z).sum(dim=0)  # (B, S); the weights sum to 1
        return z - level, level + season[W:]


class Forecaster(nn.Module):
    """``(history (W, B, I), future covariates (K, B, C)) -> parameters (K, B, S, P)``.

    ``history`` holds per step the S scaled values, then S observed flags when
    ``observed_flags`` (values missing there are fed as the last seen value), then the C
    covariates. ``season``: the profile's length for ``smoothing="es"``.
    """

    def __init__(self, num_series: int, num_covariates: int, horizon: int, config: ForecasterConfig,
                 observed_flags: bool = False, season: int = 1) -> None:
        super().__init__()
        self.config, self.S, self.C, self.K = config, num_series, num_covariates, horizon
        self.P = config.outputs_per_value
        self.smoothing = ExponentialSmoothing(num_series, season) if config.smoothing == "es" else None
        inputs = num_series * (2 if observed_flags else 1) + num_covariates
        self.encoder = build_recurrent(config.recurrent, inputs)
        width = self.encoder.output_size * self.encoder.num_directions
        if config.head == "direct":
            self.head = nn.Linear(width + horizon * num_covariates, horizon * num_series * self.P)
        else:
            self.decoder = build_recurrent(config.recurrent, num_series + num_covariates)
            self.head = nn.Linear(self.decoder.output_size, num_series * self.P)

    def _encode(self, history: Tensor) -> tuple[Tensor, object]:
        output, state = self.encoder(history)  # (W, B, D*H)
        return sequence_summary(output, None, self.encoder.bidirectional), state

    def forward(self, history: Tensor, future_covariates: Tensor, last_value: Tensor,
                targets: Tensor | None = None, horizon: int | None = None, anchor: Tensor | None = None,
                start: Tensor | None = None) -> Tensor:
        """Parameters ``(K, B, S, P)``. ``last_value`` ``(B, S)``: the last history value (the
        decoder's first input); ``targets`` ``(K, B, S)``: teacher forcing (seq2seq, training);
        ``anchor`` ``(K, B, S)``: a forecast the network corrects (added to the location
        parameters: the point, the mean, every quantile), e.g. the naive forecast; ``start``
        ``(B,)``: each window's first position in its series (the seasonal phase of
        ``smoothing="es"``, which needs it)."""
        if self.smoothing is not None:
            if start is None:
                raise ValueError("smoothing=es: expected start, each window's first position in its series")
            values, smoothed = self.smoothing(history[..., : self.S], start, horizon or self.K)
            history = torch.cat([values, history[..., self.S:]], dim=-1)
            last_value = values[-1]
            anchor = smoothed if anchor is None else anchor + smoothed
        return self._forward(history, future_covariates, last_value, targets, horizon, anchor)

    def _locate(self, params: Tensor, anchor: Tensor | None) -> Tensor:
        if anchor is None:
            return params
        if self.config.distribution == "gaussian":
            return torch.cat([params[..., :1] + anchor.unsqueeze(-1), params[..., 1:]], dim=-1)
        return params + anchor.unsqueeze(-1)

    def _forward(self, history: Tensor, future_covariates: Tensor, last_value: Tensor, targets: Tensor | None,
                 horizon: int | None, anchor: Tensor | None) -> Tensor:
        K = horizon or self.K
        if future_covariates.shape[0] != K:
            raise ValueError(f"future covariates: expected {K} steps, got {future_covariates.shape[0]}")
        summary, state = self._encode(history)
        B = history.shape[1]
        if self.config.head == "direct":
            if K != self.K:
                raise ValueError(f"horizon: the direct head forecasts exactly {self.K} steps, got {K}; "
                                 f"use head: seq2seq to forecast further")
            flat = future_covariates.permute(1, 0, 2).reshape(B, K * self.C)  # (B, K*C)
            params = self.head(torch.cat([summary, flat], dim=-1)).view(B, K, self.S, self.P).transpose(0, 1)
            return self._locate(params, anchor)
        if targets is not None:  # teacher forcing: the whole horizon in one pass
            previous = torch.cat([last_value.unsqueeze(0), targets[:-1]], dim=0)  # (K, B, S)
            output, _ = self.decoder(torch.cat([previous, future_covariates], dim=-1), state)
            return self._locate(self.head(output).view(K, B, self.S, self.P), anchor)
        steps, previous = [], last_value
        for k in range(K):  # recursive: each step reads the previous step's point forecast
            output, state = self.decoder.step(torch.cat([previous, future_covariates[k]], dim=-1), state)
            params = self._locate(self.head(output).view(B, self.S, self.P), None if anchor is None else anchor[k])
            steps.append(params)
            previous = self.point(params)
        return torch.stack(steps)

    # -- the distribution's view of the parameters -------------------------------------------
    def point(self, params: Tensor) -> Tensor:
        """The point forecast ``(..., S)``: the mean (point, Gaussian) or the median quantile."""
        if self.config.distribution == "quantile":  # sorted, as the interval is: crossed quantiles stay consistent
            q = torch.tensor(self.config.quantiles)
            return params.sort(dim=-1).values[..., int(torch.argmin((q - 0.5).abs()))]
        return params[..., 0]

    def std(self, params: Tensor) -> Tensor:
        return F.softplus(params[..., 1]) + 1e-4

    def interval(self, params: Tensor, level: float) -> tuple[Tensor, Tensor] | None:
        """``(lower, upper)`` of the central ``level`` interval, or None for point forecasts.

        Gaussian: mean -/+ z * std. Quantile: the quantiles ``0.5 -/+ level / 2`` of the learned
        ones, read linearly between the two learned levels around each (an error outside them,
        see :meth:`ForecasterConfig.check_interval`)."""
        if self.config.distribution == "gaussian":
            z = float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(0.5 + level / 2)))
            mean, std = params[..., 0], self.std(params)
            return mean - z * std, mean + z * std
        if self.config.distribution == "quantile":
            self.config.check_interval(level)
            ordered = params.sort(dim=-1).values  # guard against crossing quantiles
            return self._quantile_at(ordered, 0.5 - level / 2), self._quantile_at(ordered, 0.5 + level / 2)
        return None

    def _quantile_at(self, ordered: Tensor, level: float) -> Tensor:
        """The quantile ``level`` from the sorted learned quantiles ``(..., Q)``, linear between them."""
        q = self.config.quantiles
        if len(q) == 1:
            return ordered[..., 0]
        i = next((j for j in range(len(q) - 2) if level <= q[j + 1]), len(q) - 2)  # q[i] <= level <= q[i + 1]
        weight = min(max((level - q[i]) / (q[i + 1] - q[i]), 0.0), 1.0)
        return ordered[..., i] + weight * (ordered[..., i + 1] - ordered[..., i])

    def loss(self, params: Tensor, target: Tensor, observed: Tensor) -> Tensor:
        """Mean loss over observed targets; ``params`` ``(K, B, S, P)``, ``target``/``observed`` ``(K, B, S)``."""
        target = torch.where(observed, target, torch.zeros_like(target))
        kind = self.config.distribution
        if kind == "point":
            error = params[..., 0] - target
            per_value = error.abs() if self.config.point_loss == "mae" else error.square()
        elif kind == "gaussian":
            per_value = -torch.distributions.Normal(params[..., 0], self.std(params)).log_prob(target)
        else:
            per_value = pinball_loss(params, target, torch.tensor(self.config.quantiles, device=params.device))
        weight = observed.to(per_value.dtype)
        return (per_value * weight).sum() / weight.sum().clamp_min(1.0)


def pinball_loss(predicted: Tensor, target: Tensor, levels: Tensor) -> Tensor:
    """Quantile (pinball) loss averaged over levels: ``predicted`` ``(..., Q)``, ``target`` ``(...)``.

    For level q and error e = y - y_hat: ``max(q * e, (q - 1) * e)``.
    """
    error = target.unsqueeze(-1) - predicted  # (..., Q)
    return torch.maximum(levels * error, (levels - 1) * error).mean(dim=-1)
