"""Fixtures for the executable tests."""
import zlib

import numpy as np
import pytest


@pytest.fixture
def rng(request):
    # a different but reproducible stream per test
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(params=["default", "interleave:1"])
def cpu_schedule(request, monkeypatch):
    """Runs a test under each schedule of the cpu emulator (runtime/cpu_exec.c,
    read at every launch). The interleaved one switches threads before every
    device-memory access in a seeded random order and runs threadgroups side by
    side, so a read-modify-write that is not atomic loses updates at once (the
    default one runs a threadgroup's threads one after another). No effect on a
    GPU device."""
    monkeypatch.setenv("TRITON_METAL_CPU_SCHEDULE", request.param)
    return request.param
