# test_autotune.py: autotune (selection, pruning, hooks, persistence on disk,
# TRITON_METAL_DISABLE_AUTOTUNING) and heuristics, on real launches.
import json
import os

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

pytest.importorskip("triton_metal._C", reason="triton_metal._C is not built")


def add_one_src():
    @triton.jit
    def add_one(x_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=m) + 1.0, mask=m)
    return add_one


ADD_ONE = add_one_src()
CONFIGS = [triton.Config({"BLOCK": 32}, num_warps=1), triton.Config({"BLOCK": 64}, num_warps=2),
           triton.Config({"BLOCK": 128}, num_warps=4)]


def grid(meta):
    return (triton.cdiv(meta["n"], meta["BLOCK"]),)


class FakeBench:
    """A do_bench whose timings we choose: ms per BLOCK value; records calls."""

    def __init__(self, ms_by_block):
        self.ms = ms_by_block
        self.calls = []

    def __call__(self, fn, quantiles=None):
        fn()  # the config really runs (and compiles)
        block = self.current
        self.calls.append(block)
        t = self.ms[block]
        return [t, t, t]


def tuned(bench, **kw):
    at = triton.autotune(configs=CONFIGS, key=["n"], do_bench=bench, **kw)(ADD_ONE)
    orig = at._bench

    def spy(*args, config, **meta):
        bench.current = config.kwargs["BLOCK"]
        return orig(*args, config=config, **meta)
    at._bench = spy
    return at


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRITON_METAL_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TRITON_METAL_DISABLE_AUTOTUNING", raising=False)


def test_selects_fastest_and_launches_with_it():
    bench = FakeBench({32: 3.0, 64: 1.0, 128: 2.0})
    at = tuned(bench, reset_to_zero=["x_ptr"])
    x = np.zeros(1000, np.float32)
    at[grid](x, 1000)
    assert sorted(bench.calls) == [32, 64, 128]
    assert at.best_config.kwargs == {"BLOCK": 64} and at.best_config.num_warps == 2
    # reset_to_zero zeroed x before each benchmarked run and again after the last
    # (pre_hook(reset_only=True), as upstream): the launch adds 1 to zeros
    np.testing.assert_array_equal(x, 1.0)
    at[grid](x, 1000)  # same key: no new benchmark, no reset
    assert len(bench.calls) == 3
    np.testing.assert_array_equal(x, 2.0)
    k = ADD_ONE.cache
    assert any(key[1] == 2 for key in k)  # num_warps of the chosen config


def test_new_key_retunes():
    bench = FakeBench({32: 3.0, 64: 1.0, 128: 2.0})
    at = tuned(bench)
    at[grid](np.zeros(100, np.float32), 100)
    at[grid](np.zeros(200, np.float32), 200)
    assert len(bench.calls) == 6
    at[grid](np.zeros(100, np.int32), 100)  # a dtype is part of the key too
    assert len(bench.calls) in (6, 9)


def test_restore_value():
    bench = FakeBench({32: 1.0, 64: 2.0, 128: 3.0})
    at = tuned(bench, restore_value=["x_ptr"])
    x = np.full(100, 5.0, np.float32)
    at[grid](x, 100)
    np.testing.assert_array_equal(x, 6.0)  # benchmarks undone, then one real launch


def test_persisted_on_disk(tmp_path):
    bench = FakeBench({32: 3.0, 64: 2.0, 128: 1.0})
    at = tuned(bench)
    at[grid](np.zeros(100, np.float32), 100)
    assert at.best_config.kwargs == {"BLOCK": 128}
    files = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "autotune") for f in fs]
    from triton_metal.jit import get_device
    assert len(files) == 1 and os.sep + get_device().name + os.sep in files[0]
    bench2 = FakeBench({32: 0.1, 64: 0.1, 128: 9.0})
    at2 = tuned(bench2)  # a new autotuner (as in a new process) reads the result
    x = np.zeros(100, np.float32)
    at2[grid](x, 100)
    assert bench2.calls == [] and at2.best_config.kwargs == {"BLOCK": 128}
    np.testing.assert_array_equal(x, 1.0)
    at3 = tuned(FakeBench({32: 0.1, 64: 0.1, 128: 9.0}), cache_results=False)
    at3[grid](np.zeros(100, np.float32), 100)
    assert at3.best_config.kwargs in ({"BLOCK": 32}, {"BLOCK": 64})


@pytest.mark.parametrize("damage", ["empty", "cut"])
def test_persisted_result_left_empty_or_cut_is_tuned_again(tmp_path, damage):
    """Results are written without a sync to disk: after a crash the file may
    be empty or cut short, and is then tuned again and rewritten."""
    at = tuned(FakeBench({32: 3.0, 64: 2.0, 128: 1.0}))
    at[grid](np.zeros(100, np.float32), 100)
    (path,) = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "autotune") for f in fs]
    raw = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(b"" if damage == "empty" else raw[:len(raw) - 3])
    bench2 = FakeBench({32: 0.1, 64: 5.0, 128: 9.0})
    at2 = tuned(bench2)
    x = np.zeros(100, np.float32)
    at2[grid](x, 100)
    assert sorted(bench2.calls) == [32, 64, 128] and at2.best_config.kwargs == {"BLOCK": 32}
    np.testing.assert_array_equal(x, 4.0)  # three benchmark runs (no reset_to_zero), one launch
    assert json.loads(open(path, "rb").read())["config"] == str(at2.best_config)


def test_disable_autotuning(monkeypatch):
    monkeypatch.setenv("TRITON_METAL_DISABLE_AUTOTUNING", "1")
    bench = FakeBench({32: 3.0, 64: 1.0, 128: 2.0})
    at = tuned(bench)
    x = np.zeros(100, np.float32)
    at[grid](x, 100)
    assert bench.calls == [] and at.best_config is CONFIGS[0]
    np.testing.assert_array_equal(x, 1.0)


def test_prune_configs_by():
    bench = FakeBench({32: 3.0, 64: 1.0, 128: 2.0})

    def early(configs, named_args, **kw):
        assert named_args["n"] == 100
        return [c for c in configs if c.kwargs["BLOCK"] != 64]
    at = tuned(bench, prune_configs_by={"early_config_prune": early})
    at[grid](np.zeros(100, np.float32), 100)
    assert sorted(bench.calls) == [32, 128] and at.best_config.kwargs == {"BLOCK": 128}

    bench2 = FakeBench({32: 3.0, 64: 1.0, 128: 2.0})
    model = lambda n, BLOCK, **kw: -BLOCK  # noqa: E731  (largest block first)
    at2 = tuned(bench2, prune_configs_by={"perf_model": model, "top_k": 2})
    at2[grid](np.zeros(200, np.float32), 200)
    assert sorted(bench2.calls) == [64, 128]


def test_conflicting_meta_parameters():
    at = tuned(FakeBench({32: 1.0, 64: 1.0, 128: 1.0}))
    with pytest.raises(ValueError, match="Conflicting meta-parameters: BLOCK"):
        at[grid](np.zeros(100, np.float32), 100, BLOCK=32)


def test_failing_config_is_skipped_with_real_do_bench():
    configs = [triton.Config({"BLOCK": 100}), triton.Config({"BLOCK": 64})]  # 100: not 2**k
    at = triton.autotune(configs=configs, key=["n"], warmup=1, rep=2)(ADD_ONE)
    x = np.zeros(300, np.float32)
    at[grid](x, 300)
    assert at.best_config.kwargs == {"BLOCK": 64}
    assert at.configs_timings[configs[0]][0] == float("inf")
    assert 0 < at.configs_timings[configs[1]][0] < float("inf")
    assert x.min() >= 1.0


def test_every_config_failing_is_an_error():
    at = triton.autotune(configs=[triton.Config({"BLOCK": 100}), triton.Config({"BLOCK": 3})],
                         key=["n"], warmup=1, rep=1)(ADD_ONE)
    with pytest.raises(RuntimeError, match="every config of add_one failed"):
        at[grid](np.zeros(10, np.float32), 10)


def test_config_all_kwargs_and_str():
    c = triton.Config({"BLOCK": 8}, num_warps=2, num_stages=1, maxnreg=None)
    assert c.all_kwargs() == {"BLOCK": 8, "num_warps": 2, "num_stages": 1, "num_ctas": 1}
    assert str(c) == "BLOCK: 8, num_warps: 2, num_ctas: 1, num_stages: 1, maxnreg: None"
    with pytest.raises(KeyError, match="unrecognised"):
        triton.Config({}, foo=1)


def test_config_pre_hook():
    seen = []
    configs = [triton.Config({"BLOCK": 64}, pre_hook=lambda args: seen.append(args["BLOCK"]))]
    at = triton.autotune(configs=configs, key=["n"])(ADD_ONE)
    at[grid](np.zeros(100, np.float32), 100)
    assert seen == [64]


def test_heuristics():
    @triton.heuristics({"BLOCK": lambda args: triton.next_power_of_2(args["n"])})
    @triton.jit
    def add_one_h(x_ptr, n, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        m = offs < n
        tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=m) + 1.0, mask=m)

    for n in (5, 17, 64):
        x = np.zeros(n, np.float32)
        add_one_h[(1,)](x, n)
        np.testing.assert_array_equal(x, 1.0)
    blocks = {k[0][2][4] for k in add_one_h.fn.cache}
    assert blocks == {8, 32, 64}


def test_heuristics_under_autotune():
    bench = FakeBench({32: 2.0, 64: 1.0, 128: 3.0})
    h = triton.heuristics({"EVEN": lambda a: a["n"] % a["BLOCK"] == 0})

    @triton.jit
    def k(x_ptr, n, BLOCK: tl.constexpr, EVEN: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        if EVEN:
            tl.store(x_ptr + offs, tl.load(x_ptr + offs) + 1.0)
        else:
            m = offs < n
            tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=m) + 1.0, mask=m)
    at = triton.autotune(configs=CONFIGS, key=["n"], do_bench=bench, reset_to_zero=["x_ptr"])(h(k))
    orig = at._bench

    def spy(*args, config, **meta):
        bench.current = config.kwargs["BLOCK"]
        return orig(*args, config=config, **meta)
    at._bench = spy
    x = np.zeros(256, np.float32)
    at[grid](x, 256)
    np.testing.assert_array_equal(x, 1.0)  # zeroed after the benchmarks, then the launch
    assert at.best_config.kwargs == {"BLOCK": 64}
    assert {key[0][3][4] for key in k.cache} == {True}  # EVEN: 256 % BLOCK == 0


# ---- Autotuner as libraries subclass it (upstream's shape)

class CachedTuner(triton.runtime.Autotuner):
    """Shaped as flash-linear-attention's CachedAutotuner: upstream's positional
    __init__, hooks assigned when the decorator gave none, a run override that
    fills self.cache from elsewhere and then defers to Autotuner.run."""

    def __init__(self, fn, arg_names, configs, key, reset_to_zero, restore_value, **kwargs):
        super().__init__(fn, arg_names, configs, key, reset_to_zero, restore_value, **kwargs)
        self.hook_calls = []
        if not self.user_defined_pre_hook and (self.reset_to_zero or self.restore_value):
            default = self.pre_hook

            def _pre_hook(kw, reset_only=False):
                self.hook_calls.append(("pre", reset_only))
                default(kw, reset_only)
            self.pre_hook = _pre_hook
        self.preset = None

    def run(self, *args, **kwargs):
        if self.preset is not None:
            key = tuple([dict(zip(self.arg_names, args))[k] for k in self.keys]
                        + [str(a.dtype) for a in args if hasattr(a, "dtype")])
            self.cache[key] = self.preset
        return super().run(*args, **kwargs)


def test_subclass_like_fla_cached_autotuner():
    bench = FakeBench({32: 3.0, 64: 1.0, 128: 2.0})
    at = CachedTuner(ADD_ONE, ADD_ONE.arg_names, CONFIGS, ["n"], ["x_ptr"], None, do_bench=bench)
    assert at.user_defined_pre_hook is False and at.user_defined_post_hook is False
    orig = at._bench

    def spy(*args, config, **meta):
        bench.current = config.kwargs["BLOCK"]
        return orig(*args, config=config, **meta)
    at._bench = spy
    x = np.zeros(100, np.float32)
    at[grid](x, 100)
    assert sorted(bench.calls) == [32, 64, 128] and at.best_config.kwargs == {"BLOCK": 64}
    # the assigned hook ran before each benchmark and once to reset after them
    assert at.hook_calls == [("pre", False)] * 3 + [("pre", True)]
    np.testing.assert_array_equal(x, 1.0)
    at.preset = CONFIGS[2]  # a config found elsewhere: no benchmark, launched with it
    y = np.zeros(300, np.float32)
    at[grid](y, 300)
    assert len(bench.calls) == 3 and at.best_config is CONFIGS[2]
    np.testing.assert_array_equal(y, 1.0)
    assert at.nargs is None  # set during run only, as upstream


class OwnRun(triton.runtime.Autotuner):
    """A subclass that replaces run: times every config with _bench itself."""

    def run(self, *args, **kwargs):
        self.nargs = dict(zip(self.arg_names, args))
        timings = {c: self._bench(*args, config=c, **kwargs) for c in self.prune_configs(kwargs)}
        self.best_config = min(timings, key=lambda c: timings[c][0])
        return self.fn.run(*args, **kwargs, **self.best_config.all_kwargs())


def test_disable_autotuning_in_subclass_that_overrides_run(monkeypatch):
    bench = FakeBench({32: 3.0, 64: 1.0, 128: 2.0})
    at = OwnRun(ADD_ONE, ADD_ONE.arg_names, CONFIGS, ["n"], None, None, do_bench=bench)
    monkeypatch.setenv("TRITON_METAL_DISABLE_AUTOTUNING", "1")
    x = np.zeros(100, np.float32)
    at[grid](x, 100)
    assert bench.calls == [] and at.best_config is CONFIGS[0]  # nothing timed: the first
    np.testing.assert_array_equal(x, 1.0)
    monkeypatch.delenv("TRITON_METAL_DISABLE_AUTOTUNING")
    orig = at._bench

    def spy(*args, config, **meta):
        bench.current = config.kwargs["BLOCK"]
        return orig(*args, config=config, **meta)
    at._bench = spy
    at[grid](x, 100)
    assert sorted(bench.calls) == [32, 64, 128] and at.best_config.kwargs == {"BLOCK": 64}


def test_disable_autotuning_takes_first_pruned_config(monkeypatch):
    monkeypatch.setenv("TRITON_METAL_DISABLE_AUTOTUNING", "1")
    early = lambda configs, nargs, **kw: configs[1:]  # noqa: E731
    at = triton.autotune(configs=CONFIGS, key=["n"],
                         prune_configs_by={"early_config_prune": early})(ADD_ONE)
    x = np.zeros(100, np.float32)
    at[grid](x, 100)
    assert at.best_config is CONFIGS[1]
    np.testing.assert_array_equal(x, 1.0)


def optional_out_kernel():
    @triton.jit
    def k(x_ptr, y_ptr, n, HAS_Y: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        v = tl.load(x_ptr + offs, mask=m) + 1.0
        tl.store(x_ptr + offs, v, mask=m)
        if HAS_Y:
            tl.store(y_ptr + offs, v * 2.0, mask=m)
    return k


def test_default_hooks_skip_none_arguments():
    k = optional_out_kernel()
    bench = FakeBench({32: 3.0, 64: 1.0, 128: 2.0})
    at = triton.autotune(configs=CONFIGS, key=["n"], do_bench=bench, reset_to_zero=["y_ptr"],
                         restore_value=["x_ptr", "y_ptr"])(k)
    orig = at._bench

    def spy(*args, config, **meta):
        bench.current = config.kwargs["BLOCK"]
        return orig(*args, config=config, **meta)
    at._bench = spy
    x = np.full(100, 3.0, np.float32)
    at[grid](x, None, 100, HAS_Y=False)  # y_ptr is None: nothing to zero or restore
    np.testing.assert_array_equal(x, 4.0)
    x = np.full(200, 3.0, np.float32)
    y = np.full(200, 7.0, np.float32)
    at[grid](x, y, 200, HAS_Y=True)
    np.testing.assert_array_equal(x, 4.0)
    np.testing.assert_array_equal(y, 8.0)


def test_user_hooks_replace_the_defaults():
    calls = []

    def pre(nargs, reset_only=False):
        calls.append(("pre", reset_only))

    def post(nargs, exception):
        calls.append(("post", exception))
    bench = FakeBench({32: 3.0, 64: 1.0, 128: 2.0})
    at = triton.autotune(configs=CONFIGS, key=["n"], do_bench=bench, reset_to_zero=["x_ptr"],
                         pre_hook=pre, post_hook=post)(ADD_ONE)
    assert at.user_defined_pre_hook and at.user_defined_post_hook
    orig = at._bench

    def spy(*args, config, **meta):
        bench.current = config.kwargs["BLOCK"]
        return orig(*args, config=config, **meta)
    at._bench = spy
    x = np.zeros(100, np.float32)
    at[grid](x, 100)
    # the user's hooks ran instead of reset_to_zero: three benchmark runs + the launch
    np.testing.assert_array_equal(x, 4.0)
    assert calls == [("pre", False), ("post", None)] * 3 + [("pre", True)]


def test_do_bench_is_assignable_and_configs_may_be_empty():
    at = triton.autotune(configs=[], key=["n"])(ADD_ONE)
    assert len(at.configs) == 1 and at.configs[0].kwargs == {}
    at2 = triton.autotune(configs=CONFIGS, key=["n"])(ADD_ONE)
    seen = []

    def bench(fn, quantiles=None):
        fn()
        seen.append(1)
        return [1.0, 1.0, 1.0]
    at2.do_bench = bench
    at2[grid](np.zeros(64, np.float32), 64)
    assert len(seen) == 3


def test_use_cuda_graph_benchmarks_with_do_bench_cudagraph(monkeypatch):
    from triton_metal import testing
    seen = []
    monkeypatch.setattr(testing, "do_bench_cudagraph",
                        lambda fn, rep=20, quantiles=None: (seen.append(rep), fn(), [1.0] * 3)[2])
    at = triton.autotune(configs=CONFIGS, key=["n"], use_cuda_graph=True, rep=7)(ADD_ONE)
    at[grid](np.zeros(64, np.float32), 64)
    assert seen == [7, 7, 7]


def test_disable_autotuning_skips_configs_that_do_not_compile(monkeypatch):
    monkeypatch.setenv("TRITON_METAL_DISABLE_AUTOTUNING", "1")
    configs = [triton.Config({"BLOCK": 100}), triton.Config({"BLOCK": 64})]  # 100: not 2**k
    at = triton.autotune(configs=configs, key=["n"])(ADD_ONE)
    x = np.zeros(300, np.float32)
    at[grid](x, 300)
    assert at.best_config is configs[1]
    np.testing.assert_array_equal(x, 1.0)
    own = OwnRun(ADD_ONE, ADD_ONE.arg_names, configs, ["n"], None, None)
    own[grid](x, 300)  # the subclass's own selection through _bench skips it too
    assert own.best_config is configs[1]
    np.testing.assert_array_equal(x, 2.0)
    bad = triton.autotune(configs=[triton.Config({"BLOCK": 100}), triton.Config({"BLOCK": 3})],
                          key=["n"])(ADD_ONE)
    with pytest.raises(triton.CompilationError):
        bad[grid](x, 300)


def test_key_naming_no_parameter_is_ignored_with_a_warning():
    """Upstream ignores a key that names no parameter (its tutorial 08 has a
    misspelt one); so do we, with a warning, and the other keys still key."""
    with pytest.warns(UserWarning, match="'nn' names no parameter"):
        tuned = triton.autotune(configs=CONFIGS, key=["n", "nn"], restore_value=["x_ptr"])(add_one_src())
    x = np.zeros(100, np.float32)
    tuned[grid](x, 100)
    assert (x == 1).all()
    assert len(tuned.cache) == 1
    y = np.zeros(300, np.float32)
    tuned[grid](y, 300)
    assert (y == 1).all() and len(tuned.cache) == 2


def test_persisted_choice_the_pruning_now_excludes_is_tuned_again():
    """Pruning runs on every tuning (its hooks are called, as upstream's); a
    choice persisted by an earlier process is used only if it survives it."""
    at = tuned(FakeBench({32: 3.0, 64: 2.0, 128: 1.0}))
    at[grid](np.zeros(100, np.float32), 100)
    assert at.best_config.kwargs == {"BLOCK": 128}
    seen = []

    def no_128(configs, named_args, **kwargs):
        seen.append(len(configs))
        return [c for c in configs if c.kwargs["BLOCK"] != 128]

    bench = FakeBench({32: 3.0, 64: 2.0, 128: 1.0})
    at2 = tuned(bench, prune_configs_by={"early_config_prune": no_128})
    x = np.zeros(100, np.float32)
    at2[grid](x, 100)
    assert seen == [3] and at2.best_config.kwargs == {"BLOCK": 64} and sorted(set(bench.calls)) == [32, 64]
