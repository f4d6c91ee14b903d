"""Fixtures for every test: the device parameter and a fixed seed; the fused kernels built once
before the test workers start (with ``RNNKIT_REQUIRE_KERNEL=1``, as CI sets it, a kernel that
does not build fails the session at once instead of letting its tests skip)."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import DEVICES


def pytest_sessionstart(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller has built them
        return
    from rnnkit.functional import kernels

    try:
        kernels.available()
    except RuntimeError as error:
        raise pytest.UsageError(str(error)) from None


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(1234)
