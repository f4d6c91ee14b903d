"""Fixtures for every test: the device parameter and a fixed seed."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import DEVICES


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(1234)
