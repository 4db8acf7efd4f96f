# test_timing.py: the timers tell the truth. Device timestamps (tm_launch_timed,
# Device.set_timing/take_timing) and do_bench track real work: a launch doing
# 8x the work takes about 8x the time, and a launch's time lies inside the host
# time around it; autotune picks the faster of two configs whose speeds differ
# 16-fold. Correctness tests of the timer, not benchmarks (bench/ holds those):
# the bounds are loose enough for a loaded 2-core machine, each measurement is
# a ratio taken within one test, and a failed check is measured once more
# before it fails.
#
# Mutants these catch (tools/mutants): every timed launch reporting 1 ns
# (runtime/launch.c: end_ns = start_ns + 1), the same in the metal devices'
# timed launch (runtime/metal/metal.c), do_bench's unit (ns / 1e9 for ms).
import importlib
import time

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

tmjit = importlib.import_module("triton_metal.jit")  # the module (triton_metal.jit is the decorator)

_C = pytest.importorskip("triton_metal._C", reason="triton_metal._C is not built")

N = 1 << 15
BLOCK = 1024


@triton.jit
def spin_kernel(x_ptr, y_ptr, n, iters, BLOCK: tl.constexpr):
    # iters steps of a dependent chain per element: the work is iters x n
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    acc = tl.load(x_ptr + offs, mask=m, other=0.0)
    for i in range(iters):
        acc = acc * 0.999 + 0.5
    tl.store(y_ptr + offs, acc, mask=m)


@pytest.fixture(params=["cpu", "metal-sim"])
def device(request, monkeypatch):
    """The process's device is request.param during the test, with one worker
    thread (on a busy machine a launch spread over several workers loses more to
    other processes the longer it runs, which skews the ratios)."""
    monkeypatch.setenv("TRITON_METAL_CPU_THREADS", "1")
    saved = tmjit._device
    dev = _C.Device(request.param)
    tmjit._device = dev
    spin_kernel.fast_cache.clear()
    for c in spin_kernel.cache.values():
        c.module = None
    yield dev
    dev.synchronize()
    tmjit._device = saved
    spin_kernel.fast_cache.clear()
    for c in spin_kernel.cache.values():
        c.module = None


def launch(iters):
    x = np.linspace(-1, 1, N, dtype=np.float32)
    y = np.empty_like(x)
    spin_kernel[(triton.cdiv(N, BLOCK),)](x, y, N, iters, BLOCK=BLOCK)
    return x, y


def timed(dev, iters_list, reps=5):
    """For each iters in iters_list, the median over reps of (device ns, host
    ns) of one launch; the launches of the different sizes alternate, so a
    change in the machine's load touches them alike."""
    for iters in iters_list:
        launch(iters)  # compiled and warm
    pairs = {iters: [] for iters in iters_list}
    dev.set_timing(True)
    try:
        for _ in range(reps):
            for iters in iters_list:
                dev.take_timing()
                t0 = time.perf_counter_ns()
                launch(iters)
                host = time.perf_counter_ns() - t0
                ns, launches, source = dev.take_timing()
                assert launches == 1 and source == "host"  # no GPU here: the host clock around the run
                pairs[iters].append((ns, host))
    finally:
        dev.set_timing(False)
    return [sorted(pairs[iters])[reps // 2] for iters in iters_list]


def twice(check):
    """A timing check on a busy machine: one more measurement before failing."""
    try:
        check()
    except AssertionError:
        check()


def test_device_time_tracks_work(device):
    def check():
        (d1, h1), (d8, h8) = timed(device, [64, 512])
        # the launch's interval lies inside the host's interval around the call
        assert d1 <= h1 and d8 <= h8, (d1, h1, d8, h8)
        # and fills most of it when the launch is long (Python's own share is ~0.1 ms)
        assert d8 >= 0.5 * h8, (d8, h8)
        # 8x the work: between 3x and 24x the time
        assert 3 <= d8 / d1 <= 24, (d1, d8)
    twice(check)


def test_results_are_right():
    # the measured kernel computes what it says (else timing it proves nothing)
    x, y = launch(37)
    want = x.copy()
    for _ in range(37):
        want = want * np.float32(0.999) + np.float32(0.5)
    np.testing.assert_allclose(y, want, rtol=1e-6)


def test_do_bench_tracks_work(device):
    def check():
        ms = {}
        for iters in (64, 512):
            launch(iters)
            t0 = time.perf_counter()
            calls = [0]

            def fn():
                calls[0] += 1
                launch(iters)
            ms[iters] = triton.testing.do_bench(fn, warmup=5, rep=40, clear_cache=False)
            host_ms = (time.perf_counter() - t0) * 1e3 / calls[0]
            # no call is shorter than its launch: the median is at most the mean
            # host time per call (do_bench's own work included) plus noise
            assert 0 < ms[iters] <= 1.5 * host_ms, (iters, ms[iters], host_ms)
        # and in milliseconds: the long launch is most of the host time per call
        assert ms[512] >= 0.4 * host_ms, (ms, host_ms)
        assert 3 <= ms[512] / ms[64] <= 24, ms
    twice(check)


@triton.jit
def repeat_kernel(x_ptr, y_ptr, n, iters, REPEAT: tl.constexpr, BLOCK: tl.constexpr):
    # REPEAT times the same work, the same result
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m, other=0.0)
    out = x
    for r in range(REPEAT):
        acc = x
        for i in range(iters):
            acc = acc * 0.999 + 0.5
        out = acc
    tl.store(y_ptr + offs, out, mask=m)


def test_autotune_picks_the_faster_config(tmp_path, monkeypatch):
    monkeypatch.delenv("TRITON_METAL_DISABLE_AUTOTUNING", raising=False)
    # the slow config first: a timer that cannot tell them apart keeps it
    configs = [triton.Config({"REPEAT": 16}), triton.Config({"REPEAT": 1})]
    attempt = [0]

    def check():
        attempt[0] += 1  # a cache folder of its own: nothing tuned before
        monkeypatch.setenv("TRITON_METAL_CACHE_DIR", str(tmp_path / str(attempt[0])))
        tuned = triton.autotune(configs=configs, key=["n"], warmup=5, rep=30)(repeat_kernel)
        x = np.linspace(-1, 1, N, dtype=np.float32)
        y = np.empty_like(x)
        tuned[lambda meta: (triton.cdiv(N, BLOCK),)](x, y, N, 64, BLOCK=BLOCK)
        t = {c.kwargs["REPEAT"]: v[0] for c, v in tuned.configs_timings.items()}
        assert tuned.best_config.kwargs == {"REPEAT": 1}, t
        assert t[16] >= 4 * t[1], t  # 16x the work: at least 4x the time
    twice(check)
