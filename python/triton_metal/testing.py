# testing.py: triton_metal.testing (upstream's triton.testing): do_bench,
# assert_close, Benchmark and perf_report.
#
# do_bench reports device time when the device gives it: during the timed
# repetitions the device's launches go through tm_launch_timed
# (Device.set_timing), and a repetition's time is the sum of its launches'
# intervals -- GPU timestamps on the metal device, the host clock around the
# emulator's run on metal-sim and cpu (no launch overhead either way; each
# timed launch waits for itself, so batching is off while measuring). A
# repetition that launched nothing (fn does other work) falls back to the host
# clock around fn() plus tm_device_synchronize.
#
# The emulator's tiers (TRITON_METAL_OPT=tiered: a new kernel runs quickly
# built code until its optimised build is ready) would time two kinds of code
# against each other, and the autotuner would pick a config for its tier, not
# its speed: after the first call do_bench settles the kernels that call
# launched (Device.tier_settle), so every timed call runs optimised code.

import math
import os
import time

_flush_buffer = None


def _flush_cache():
    """Evicts the CPU caches between repetitions (as upstream zeroes 256 MB)."""
    global _flush_buffer
    if _flush_buffer is None:
        try:
            import numpy as np
            _flush_buffer = np.empty(32 << 20, np.uint8)
        except ImportError:
            _flush_buffer = bytearray(32 << 20)
    if hasattr(_flush_buffer, "fill"):
        _flush_buffer.fill(0)
    else:
        _flush_buffer[:] = bytes(len(_flush_buffer))


def _device():
    """The process's device, or None without the extension."""
    try:
        from .jit import get_device
        return get_device()
    except ImportError:
        return None


def _synchronizer():
    """The process's device's synchronize(), or a no-op without the extension."""
    dev = _device()
    return dev.synchronize if dev is not None else (lambda: None)


def _quantile(sorted_xs, q):
    """Linear interpolation between closest ranks (numpy's and torch's default)."""
    pos = (len(sorted_xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def _summarize(times_ms, quantiles, return_mode):
    xs = sorted(times_ms)
    if quantiles is not None:
        r = [_quantile(xs, q) for q in quantiles]
        return r[0] if len(r) == 1 else r
    if return_mode == "all":
        return list(times_ms)
    if return_mode == "min":
        return xs[0]
    if return_mode == "max":
        return xs[-1]
    if return_mode == "mean":
        return sum(xs) / len(xs)
    return _quantile(xs, 0.5)


def do_bench(fn, warmup=25, rep=100, grad_to_none=None, quantiles=None, return_mode="median",
             clear_cache=True):
    """Milliseconds per call of fn: about `warmup` ms of calls first, then about
    `rep` ms of timed calls (at least 1 each), the caches flushed before each.
    Returns the median (return_mode: "median", "mean", "min", "max", "all"), or
    the given quantiles."""
    if return_mode not in ("min", "max", "mean", "median", "all"):
        raise ValueError(f"do_bench: return_mode must be min, max, mean, median or all, "
                         f"got {return_mode!r}")
    sync = _synchronizer()
    dev = _device()
    settle = dev is not None and hasattr(dev, "tier_mark")
    mark = dev.tier_mark() if settle else 0
    fn()
    sync()
    if settle:  # the emulator's kernels fn launched run their optimised code from now on
        dev.tier_settle(mark)
    t0 = time.perf_counter_ns()
    for _ in range(5):
        if clear_cache:
            _flush_cache()
        fn()
    sync()
    est_ms = max((time.perf_counter_ns() - t0) / 5 / 1e6, 1e-6)
    n_warmup = max(1, int(warmup / est_ms))
    n_repeat = max(1, int(rep / est_ms))
    for _ in range(n_warmup):
        fn()
    sync()
    times = []
    timed = dev is not None and hasattr(dev, "set_timing")
    prev = dev.set_timing(True) if timed else False
    try:
        for _ in range(n_repeat):
            if grad_to_none is not None:
                for x in grad_to_none:
                    x.grad = None
            if clear_cache:
                _flush_cache()
            if timed:
                dev.take_timing()
            t = time.perf_counter_ns()
            fn()
            sync()
            host_ms = (time.perf_counter_ns() - t) / 1e6
            ns, launches, _ = dev.take_timing() if timed else (0, 0, None)
            times.append(ns / 1e6 if launches else host_ms)
    finally:
        if timed:
            dev.set_timing(prev)
    return _summarize(times, quantiles, return_mode)


def do_bench_cudagraph(fn, rep=20, grad_to_none=None, quantiles=None, return_mode="mean"):
    """Upstream times fn through a recorded CUDA graph; there are no graphs here,
    so this is do_bench with the same repetition budget (no warmup budget of its own)."""
    return do_bench(fn, warmup=max(1, rep // 4), rep=rep, grad_to_none=grad_to_none,
                    quantiles=quantiles, return_mode=return_mode)


def _to_numpy(x):
    import numpy as np
    if hasattr(x, "detach"):  # torch
        import torch
        x = x.detach().cpu()
        if x.dtype == torch.bfloat16:
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def assert_close(x, y, atol=None, rtol=None, err_msg=""):
    """x and y agree within atol (default 1e-2) + rtol (default 0) * |y|; NaNs
    agree with NaNs. Takes NumPy arrays, torch tensors and scalars."""
    import numpy as np
    atol = 1e-2 if atol is None else atol
    rtol = 0 if rtol is None else rtol
    if callable(atol):
        atol = atol(getattr(x, "dtype", None))
    if callable(rtol):
        rtol = rtol(getattr(x, "dtype", None))
    np.testing.assert_allclose(_to_numpy(x), _to_numpy(y), atol=atol, rtol=rtol, equal_nan=True,
                               err_msg=err_msg)


class Benchmark:
    """One benchmark table: rows over x_vals, one column per line_vals entry."""

    def __init__(self, x_names, x_vals, line_arg, line_vals, line_names, plot_name, args,
                 xlabel="", ylabel="", x_log=False, y_log=False, styles=None, color=None):
        self.x_names = list(x_names)
        self.x_vals = list(x_vals)
        self.line_arg = line_arg
        self.line_vals = list(line_vals)
        self.line_names = list(line_names)
        self.plot_name = plot_name
        self.args = dict(args)
        self.xlabel = xlabel
        self.ylabel = ylabel
        self.x_log = x_log
        self.y_log = y_log
        self.styles = styles


class Table:
    """Benchmark results without pandas: columns and rows, printable."""

    def __init__(self, columns, rows):
        self.columns = list(columns)
        self.rows = [list(r) for r in rows]

    def column(self, name):
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def to_string(self):
        def fmt(v):
            return f"{v:.6g}" if isinstance(v, float) else str(v)
        cells = [self.columns] + [[fmt(v) for v in r] for r in self.rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(self.columns))]
        return "\n".join("  ".join(c[i].rjust(widths[i]) for i in range(len(c))) for c in cells)

    def to_csv(self, path):
        with open(path, "w") as f:
            f.write(",".join(self.columns) + "\n")
            for r in self.rows:
                f.write(",".join(repr(v) if isinstance(v, float) else str(v) for v in r) + "\n")

    __str__ = to_string


class Mark:
    def __init__(self, fn, benchmarks):
        self.fn = fn
        self.benchmarks = benchmarks

    def _run(self, bench, save_path, show_plots, print_data, **kwargs):
        y_cols = []
        for name in bench.line_names:
            y_cols += [name, f"{name}-min", f"{name}-max"]
        rows = []
        for x in bench.x_vals:
            xs = x if isinstance(x, (list, tuple)) and len(bench.x_names) > 1 else [x]
            if len(xs) == 1 and len(bench.x_names) > 1:
                xs = xs * len(bench.x_names)
            x_args = dict(zip(bench.x_names, xs))
            row = list(xs)
            for y in bench.line_vals:
                r = self.fn(**x_args, **{bench.line_arg: y}, **bench.args, **kwargs)
                mid, lo, hi = (r if isinstance(r, (list, tuple)) else (r, r, r))
                row += [mid, lo, hi]
            rows.append(row)
        table = Table(bench.x_names + y_cols, rows)
        shown = Table(bench.x_names + bench.line_names,
                      [r[:len(bench.x_names)] + r[len(bench.x_names)::3] for r in rows])
        if print_data:
            print(bench.plot_name + ":")
            print(shown.to_string())
        if save_path:
            os.makedirs(save_path, exist_ok=True)
            shown.to_csv(os.path.join(save_path, f"{bench.plot_name}.csv"))
        if show_plots or save_path:
            self._plot(bench, table, save_path, show_plots)
        return table

    def _plot(self, bench, table, save_path, show_plots):
        try:
            import matplotlib
            if not show_plots:
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return None
        fig, ax = plt.subplots()
        x = table.column(bench.x_names[0])
        for i, name in enumerate(bench.line_names):
            style = bench.styles[i] if bench.styles else None
            kw = {"color": style[0], "linestyle": style[1]} if style else {}
            ax.plot(x, table.column(name), label=name, **kw)
            lo, hi = table.column(f"{name}-min"), table.column(f"{name}-max")
            if lo != hi:
                ax.fill_between(x, lo, hi, alpha=0.15, **({"color": style[0]} if style else {}))
        ax.legend()
        ax.set_xlabel(bench.xlabel or bench.x_names[0])
        ax.set_ylabel(bench.ylabel)
        ax.set_title(bench.plot_name)
        if bench.x_log:
            ax.set_xscale("log")
        if bench.y_log:
            ax.set_yscale("log")
        if save_path:
            fig.savefig(os.path.join(save_path, f"{bench.plot_name}.png"))
        if show_plots:
            plt.show()
        plt.close(fig)
        return fig

    def run(self, show_plots=False, print_data=False, save_path="", return_df=False, **kwargs):
        """Runs every benchmark: prints the table (print_data), writes CSV and, when
        matplotlib is installed, a PNG under save_path; shows the plot (show_plots).
        return_df returns the tables (a pandas DataFrame each when pandas is
        installed)."""
        benchmarks = self.benchmarks if isinstance(self.benchmarks, list) else [self.benchmarks]
        tables = [self._run(b, save_path, show_plots, print_data, **kwargs) for b in benchmarks]
        if not return_df:
            return None
        try:
            import pandas as pd
            tables = [pd.DataFrame(t.rows, columns=t.columns) for t in tables]
        except ImportError:
            pass
        return tables[0] if len(tables) == 1 else tables


def perf_report(benchmarks):
    """Decorator: fn(**x_args, line_arg=value, **args) -> ms (or (mid, min, max));
    returns a Mark whose run() makes the tables."""
    return lambda fn: Mark(fn, benchmarks)


__all__ = ["do_bench", "do_bench_cudagraph", "assert_close", "Benchmark", "perf_report", "Mark"]
