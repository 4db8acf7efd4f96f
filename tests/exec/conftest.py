"""Fixtures for the executable tests."""
import os
import zlib

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def racecheck(monkeypatch):
    """Every executable test runs under the emulator's race checker unless the
    caller set TRITON_METAL_RACECHECK (to 0, say): kernels are built so that
    every threadgroup-memory access is recorded between barriers, and a race
    fails the launch (runtime/cpu/cpu_exec.c; docs/metal.md, issue 15 item 10).
    Read when a kernel is built; no effect on a GPU device."""
    if "TRITON_METAL_RACECHECK" not in os.environ:
        monkeypatch.setenv("TRITON_METAL_RACECHECK", "1")


@pytest.fixture
def rng(request):
    # a different but reproducible stream per test
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(params=["default", "interleave:1"])
def cpu_schedule(request, monkeypatch):
    """Runs a test under each schedule of the cpu emulator (runtime/cpu/cpu_exec.c,
    read at every launch). The interleaved one switches threads before every
    device-memory access in a seeded random order and runs threadgroups side by
    side, so a read-modify-write that is not atomic loses updates at once (the
    default one runs a threadgroup's threads one after another). No effect on a
    GPU device."""
    monkeypatch.setenv("TRITON_METAL_CPU_SCHEDULE", request.param)
    return request.param
