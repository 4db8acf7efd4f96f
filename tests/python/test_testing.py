# test_testing.py: triton_metal.testing: do_bench (counts, modes, quantiles, a
# known sleep as the reference duration), assert_close, Benchmark/perf_report.
import os
import time

import numpy as np
import pytest

import triton_metal as triton
from triton_metal import testing


def test_do_bench_measures_a_known_duration():
    calls = []

    def fn():
        calls.append(1)
        time.sleep(0.002)
    ms = testing.do_bench(fn, warmup=5, rep=20, clear_cache=False)
    assert ms >= 2.0  # time.sleep sleeps at least as long as asked
    # about warmup/est + rep/est calls after the 1 + 5 estimating ones
    assert 6 + 1 + 1 <= len(calls) <= 6 + 5 // 2 + 20 // 2 + 2


def test_do_bench_modes_and_quantiles():
    seq = iter([0.0] * 1000)
    fn = lambda: next(seq)  # noqa: E731
    q = testing.do_bench(fn, warmup=0.01, rep=0.05, quantiles=(0.5, 0.2, 0.8))
    assert isinstance(q, list) and len(q) == 3 and q[1] <= q[0] <= q[2]
    allv = testing.do_bench(lambda: None, warmup=0.01, rep=0.05, return_mode="all",
                            clear_cache=False)
    assert isinstance(allv, list) and len(allv) >= 1 and min(allv) >= 0
    with pytest.raises(ValueError, match="return_mode"):
        testing.do_bench(lambda: None, return_mode="p99")


def test_summary_statistics():
    xs = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert testing._summarize(xs, None, "median") == 3.0
    assert testing._summarize(xs, None, "mean") == 3.0
    assert testing._summarize(xs, None, "min") == 1.0
    assert testing._summarize(xs, None, "max") == 5.0
    assert testing._summarize(xs, (0.5, 0.25, 0.75), "median") == [3.0, 2.0, 4.0]
    assert testing._summarize([1.0, 2.0], (0.5,), "median") == \
        pytest.approx(np.quantile([1.0, 2.0], 0.5))
    assert testing._summarize(xs, (0.1, 0.9), None) == \
        pytest.approx(list(np.quantile(xs, [0.1, 0.9])))


def test_assert_close():
    a = np.array([1.0, np.nan, 3.0], np.float32)
    testing.assert_close(a, a.copy())
    testing.assert_close(a, a + 0.005)  # default atol 1e-2
    with pytest.raises(AssertionError):
        testing.assert_close(a, a + 0.1)
    testing.assert_close(a, a * 1.05, atol=0, rtol=0.1)
    with pytest.raises(AssertionError, match="context"):
        testing.assert_close(np.float32(1), 2.0, err_msg="context")


def test_assert_close_torch():
    torch = pytest.importorskip("torch")
    x = torch.randn(16, dtype=torch.bfloat16)
    testing.assert_close(x, x.clone())
    with pytest.raises(AssertionError):
        testing.assert_close(x, x + 1)


def make_report(save_line=None):
    @testing.perf_report(testing.Benchmark(
        x_names=["size"], x_vals=[8, 16], line_arg="provider", line_vals=["a", "b"],
        line_names=["A", "B"], plot_name="demo", args={"scale": 2}, ylabel="ms"))
    def bench(size, provider, scale):
        v = size * scale + (0 if provider == "a" else 1)
        return v, v - 1, v + 1
    return bench


def test_perf_report_table_and_csv(tmp_path, capsys):
    bench = make_report()
    table = bench.run(print_data=True, save_path=str(tmp_path), return_df=True)
    out = capsys.readouterr().out
    assert "demo:" in out and "size" in out and "A" in out
    lines = (tmp_path / "demo.csv").read_text().splitlines()
    assert lines[0] == "size,A,B" and lines[1] == "8,16,17" and lines[2] == "16,32,33"
    cols = list(table.columns)
    assert cols[:4] == ["size", "A", "A-min", "A-max"]


def test_perf_report_plot(tmp_path):
    pytest.importorskip("matplotlib")
    make_report().run(save_path=str(tmp_path))
    assert os.path.getsize(tmp_path / "demo.png") > 0


@pytest.mark.skipif(pytest.importorskip("importlib").util.find_spec("triton_metal._C") is None,
                    reason="triton_metal._C is not built")
def test_do_bench_on_a_kernel():
    import triton_metal.language as tl

    @triton.jit
    def scale2(x_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=m) * 2.0, mask=m)
    x = np.ones(4096, np.float32)
    ms = testing.do_bench(lambda: scale2[(4,)](x, 4096, BLOCK=1024), warmup=1, rep=5)
    assert ms > 0 and np.isfinite(ms)
    assert (x > 1).all()
