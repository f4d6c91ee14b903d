"""Shared test helpers: the devices to test on and the tolerances of each dtype."""

from __future__ import annotations

import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    return {"atol": 1e-10, "rtol": 1e-9} if dtype == torch.float64 else {"atol": 2e-5, "rtol": 1e-4}
