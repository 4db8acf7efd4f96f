# autotuner.py: triton_metal.autotune, triton_metal.heuristics, Config.
#
#   @autotune(configs=[Config({...}, num_warps=...), ...], key=["n"])
#   @jit
#   def kernel(...): ...
#
# The tuning key is the values of the `key` arguments plus the dtype of every
# argument that has one (as upstream). For a key not seen before, each config
# (after prune_configs_by) runs under testing.do_bench and the fastest is kept:
# in memory, and on disk under <cache root>/autotune/<device>/ (keyed by the
# kernel's source, the configs, the tuning key and the compiler version), so a
# later process skips the benchmark. The class has upstream's shape (hooks,
# _bench, prune_configs, do_bench, cache), because libraries subclass it (see
# Autotuner). TRITON_METAL_DISABLE_AUTOTUNING=1 takes the first (pruned) config
# that compiles, without benchmarking; TRITON_METAL_CACHE_AUTOTUNING=0 or
# cache_results=False keeps results in memory only; TRITON_PRINT_AUTOTUNING=1
# prints each choice.

import builtins
import json
import os
import sys
import time
import warnings

from . import cache as _cache
from . import options as _options


class Config:
    """A point of the search space: meta-parameter values (kwargs) plus launch
    options. pre_hook(args_dict) runs before each launch with this config."""

    def __init__(self, kwargs, num_warps=4, num_stages=3, num_ctas=1, maxnreg=None,
                 pre_hook=None, ir_override=None, **options):
        _options.check_names(options)
        self.kwargs = dict(kwargs)
        self.num_warps = num_warps
        self.num_stages = num_stages
        self.num_ctas = num_ctas
        self.maxnreg = maxnreg
        self.pre_hook = pre_hook
        self.ir_override = ir_override
        self.options = options

    def all_kwargs(self):
        """Meta-parameters and the options that are set (not None)."""
        opts = {"num_warps": self.num_warps, "num_stages": self.num_stages,
                "num_ctas": self.num_ctas, "maxnreg": self.maxnreg, **self.options}
        return {**self.kwargs, **{k: v for k, v in opts.items() if v is not None}}

    def __str__(self):
        res = [f"{k}: {v}" for k, v in self.kwargs.items()]
        res += [f"num_warps: {self.num_warps}", f"num_ctas: {self.num_ctas}",
                f"num_stages: {self.num_stages}", f"maxnreg: {self.maxnreg}"]
        res += [f"{k}: {v}" for k, v in sorted(self.options.items())]
        return ", ".join(res)

    __repr__ = __str__

    def __eq__(self, other):
        return isinstance(other, Config) and str(self) == str(other) \
            and self.pre_hook is other.pre_hook

    def __hash__(self):
        return hash(str(self))


class KernelInterface:
    """kernel[grid](*args, **kwargs) -> self.run(*args, grid=grid, **kwargs)."""

    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            if "torch._dynamo" in sys.modules:  # torch.compile may be tracing: the launch is opaque to it
                from .jit import _under_dynamo
                return _under_dynamo(type(self).run)(self, *args, grid=grid, warmup=False, **kwargs)
            return self.run(*args, grid=grid, warmup=False, **kwargs)
        return launch


def _base_jit(fn):
    while not hasattr(fn, "arg_names") and hasattr(fn, "fn"):
        fn = fn.fn
    return fn


def _zero(a):
    if hasattr(a, "zero_"):
        a.zero_()
    else:
        a.fill(0)


def _copy(a):
    return a.clone() if hasattr(a, "clone") else a.copy()


def _restore(dst, src):
    if hasattr(dst, "copy_"):
        dst.copy_(src)
    else:
        dst[...] = src


def _env_on(name, default):
    e = os.environ.get(name)
    return default if e is None or e == "" else e not in ("0", "false", "False")


def _autotuning_disabled():
    return _env_on("TRITON_METAL_DISABLE_AUTOTUNING", False)


def _print_autotuning():
    return os.environ.get("TRITON_PRINT_AUTOTUNING") == "1"


class Autotuner(KernelInterface):
    """Upstream's Autotuner, as libraries use and subclass it:

      run(*args, grid=..., warmup=False, **kwargs)   tunes (once per key), then launches
      _bench(*args, config=..., **meta) -> [ms] * 3  times one config (inf if it does not fit)
      prune_configs(kwargs)                           early_config_prune, then perf_model top_k
      pre_hook(nargs, reset_only=False)               assignable; by default reset_to_zero
      post_hook(nargs, exception)                     and restore_value (None arguments skipped)
      user_defined_pre_hook / user_defined_post_hook  True when the decorator was given hooks:
                                                      they then replace the defaults, as upstream
      do_bench                                        the benchmarker (default: the driver's)
      nargs                                           the positional arguments by name, during run
      cache                                           tuning key -> Config (subclasses may fill it)

    TRITON_METAL_DISABLE_AUTOTUNING=1 benchmarks nothing: run takes the first
    pruned config that compiles for the arguments (one that does not fit, such as
    too much threadgroup memory, is what tuning would skip too), and _bench (for
    subclasses that override run) gives each config that compiles its index in
    `configs` as its time, so the same config wins there."""

    def __init__(self, fn, arg_names, configs, key, reset_to_zero=None, restore_value=None,
                 pre_hook=None, post_hook=None, prune_configs_by=None, warmup=None, rep=None,
                 use_cuda_graph=False, do_bench=None, cache_results=None):
        self.configs = list(configs) if configs else [Config({})]
        self.fn = fn
        self.base_fn = _base_jit(fn)
        self.arg_names = list(arg_names)
        self.keys = list(key or [])
        for k in self.keys:
            if k not in self.arg_names:  # upstream ignores it (its tutorial 08 has one): so do we, aloud
                warnings.warn(f"autotune: key {k!r} names no parameter of {getattr(fn, '__name__', fn)} "
                              f"(parameters: {', '.join(self.arg_names)}); it is ignored", stacklevel=3)
        self.reset_to_zero = list(reset_to_zero or [])
        self.restore_value = list(restore_value or [])
        for n in self.reset_to_zero + self.restore_value:
            if n not in self.arg_names:
                raise ValueError(f"autotune: reset_to_zero/restore_value name unknown "
                                 f"parameter {n!r}")
        self.restore_copies = {}
        self._failures = []  # (config, error) of the configs _bench found not to fit
        self._untuned = {}  # tuning key -> the config taken with autotuning disabled
        self.pre_hook, self.user_defined_pre_hook = self._default_pre_hook, False
        self.post_hook, self.user_defined_post_hook = self._default_post_hook, False
        if pre_hook:
            self.pre_hook, self.user_defined_pre_hook = pre_hook, True
        if post_hook:
            self.post_hook, self.user_defined_post_hook = post_hook, True
        prune = prune_configs_by or {}
        self.early_config_prune = prune.get("early_config_prune")
        self.perf_model = prune.get("perf_model")
        self.configs_top_k = prune.get("top_k", 1.0)
        self.num_warmups, self.num_reps = warmup, rep
        self.use_cuda_graph = use_cuda_graph
        self._do_bench = do_bench
        self.cache_results = cache_results
        self.cache = {}
        self.nargs = None
        self.configs_timings = None
        self.best_config = None
        self.bench_time = 0.0
        self.__name__ = getattr(fn, "__name__", "kernel")
        self.__doc__ = getattr(fn, "__doc__", None)

    @property
    def top_k(self):
        return self.configs_top_k

    # ---- the benchmarker: assignable, as upstream's cached property

    @property
    def do_bench(self):
        if self._do_bench is not None:
            return self._do_bench
        from . import testing
        if self.use_cuda_graph:  # upstream's do_bench_cudagraph (testing.py: no graphs here)
            rep = 20 if self.num_reps is None else self.num_reps
            return lambda fn, quantiles=None: testing.do_bench_cudagraph(fn, rep=rep,
                                                                         quantiles=quantiles)
        warmup = 25 if self.num_warmups is None else self.num_warmups
        rep = 100 if self.num_reps is None else self.num_reps
        return lambda fn, quantiles=None: testing.do_bench(fn, warmup=warmup, rep=rep,
                                                           quantiles=quantiles)

    @do_bench.setter
    def do_bench(self, fn):
        self._do_bench = fn

    # ---- hooks around each benchmarked launch (arguments that are None are skipped:
    #      optional pointers gated by a constexpr flag are passed as None)

    def _default_pre_hook(self, nargs, reset_only=False):
        for n in self.reset_to_zero:
            if nargs.get(n) is not None:
                _zero(nargs[n])
        if not reset_only:
            self.restore_copies = {n: _copy(nargs[n]) for n in self.restore_value
                                   if nargs.get(n) is not None}

    def _default_post_hook(self, nargs, exception):
        for n, v in self.restore_copies.items():
            _restore(nargs[n], v)
        self.restore_copies = {}

    # ---- choosing

    def _tuning_key(self, all_args):
        args = {k: v for k, v in all_args.items() if k in self.arg_names}
        key = [args[k] for k in self.keys if k in args]
        key += [str(a.dtype) for a in args.values() if hasattr(a, "dtype")]
        return tuple(key)

    def prune_configs(self, kwargs, nargs=None):
        """The configs worth timing for these launch arguments (upstream reads
        self.nargs, which run sets; nargs overrides it)."""
        nargs = nargs if nargs is not None else (self.nargs or {})
        configs = self.configs
        if self.early_config_prune:
            configs = self.early_config_prune(configs, nargs, **kwargs)
            if not configs:
                raise ValueError("autotune: early_config_prune returned no configs")
        if self.perf_model:
            top_k = self.configs_top_k
            if isinstance(top_k, float) and top_k <= 1.0:
                top_k = int(len(configs) * top_k)
            top_k = max(1, top_k)
            if len(configs) > top_k:
                est = {c: self.perf_model(**nargs, **kwargs, **c.all_kwargs()) for c in configs}
                configs = sorted(est, key=est.get)[:top_k]
        return list(configs)

    def _check_conflicts(self, kwargs, config):
        conflicts = sorted(set(kwargs) & set(config.kwargs))
        if conflicts:
            raise ValueError(f"Conflicting meta-parameters: {', '.join(conflicts)}. Make sure "
                             "that you don't re-define auto-tuned symbols.")

    def _bench(self, *args, config, **meta):
        """[median, p20, p80] ms of launching with `config` (meta holds grid= and the
        other keyword arguments of run); [inf] * 3 when the config does not fit."""
        from . import CompilationError, LaunchError, OutOfResources
        self._check_conflicts(meta, config)
        if _autotuning_disabled():
            if not self._compiles(args, meta, config):
                return [float("inf")] * 3
            i = self.configs.index(config) if config in self.configs else len(self.configs)
            return [float(i)] * 3
        if _print_autotuning():
            print(f"Autotuning kernel {self.__name__} with config {config}")
        current = {**meta, **config.all_kwargs()}
        nargs = self.nargs if self.nargs is not None else dict(zip(self.arg_names, args))
        full = {**nargs, **current}

        def kernel_call():
            if config.pre_hook:
                config.pre_hook(full)
            self.pre_hook(full)
            try:
                self.fn.run(*args, **current)
            except BaseException as e:
                try:
                    self.post_hook(full, exception=e)
                finally:
                    raise
            self.post_hook(full, exception=None)

        try:
            r = self.do_bench(kernel_call, quantiles=(0.5, 0.2, 0.8))
        except (CompilationError, LaunchError, OutOfResources) as e:  # the config does not fit
            if _print_autotuning():
                print(f"Autotuning: config {config} failed: {type(e).__name__}: {e}")
            self._failures.append((config, e))
            return [float("inf")] * 3
        return list(r) if isinstance(r, (list, tuple)) else [r, r, r]

    def _disk_path(self, tkey):
        from .jit import get_device, _c_or_none, _target
        fn = self.base_fn
        try:
            device = get_device().name
        except (ImportError, RuntimeError):  # no device: nothing to persist against
            return None
        c = _c_or_none()
        key = _cache.make_key("autotune", getattr(fn, "src", None), getattr(fn, "file", None),
                              getattr(fn, "__name__", None), [str(c) for c in self.configs],
                              repr(tkey), self.keys, self.reset_to_zero, self.restore_value,
                              _cache.compiler_version(c) if c else None, _target()[1])
        return os.path.join(_cache.root(), "autotune", device, key[:2], key + ".json")

    def _persist(self):
        if self.cache_results is not None:
            return bool(self.cache_results)
        return _env_on("TRITON_METAL_CACHE_AUTOTUNING", True)

    def _load(self, tkey):
        path = self._disk_path(tkey) if self._persist() else None
        if not path:
            return None, path
        try:
            d = json.loads(_cache.read_regular(path))  # a FIFO in its place: OSError
            i = d["index"]
            if type(i) is int and 0 <= i < len(self.configs) and d["config"] == str(self.configs[i]):
                return self.configs[i], path
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None, path

    def _store(self, path, config, timings):
        if not path or config not in self.configs:
            return
        body = {"index": self.configs.index(config), "config": str(config),
                "timings_ms": {str(c): t for c, t in timings.items()}}
        try:
            _cache.write_atomic(path, json.dumps(body, default=str).encode())
        except OSError:
            pass

    def run(self, *args, **kwargs):
        """kwargs holds grid= and warmup= besides the kernel's keyword arguments."""
        self.nargs = dict(zip(self.arg_names, args))
        try:
            all_args = {**self.nargs, **kwargs}
            if _autotuning_disabled():
                config = self._first_that_compiles(args, kwargs)
            else:
                tkey = self._tuning_key(all_args)
                try:
                    config = self.cache.get(tkey)
                except TypeError:
                    raise TypeError(f"autotune: the values of key {self.keys} must be hashable, "
                                    f"got {tkey!r}") from None
                if config is None:
                    config = self._tune(tkey, args, kwargs)
            self.best_config = config
            self._check_conflicts(kwargs, config)
            if config.pre_hook:
                config.pre_hook({**self.nargs, **kwargs, **config.all_kwargs()})
            return self.fn.run(*args, **kwargs, **config.all_kwargs())
        finally:
            self.nargs = None

    def _compiles(self, args, kwargs, config):
        """Whether the kernel compiles with config for these arguments (no launch)."""
        from . import CompilationError, OutOfResources
        try:
            self.fn.run(*args, **{**kwargs, "warmup": True}, **config.all_kwargs())
        except (CompilationError, OutOfResources) as e:
            self._failures.append((config, e))
            return False
        return True

    def _precompile(self, args, kwargs, configs):
        """Builds every config's kernel before any is timed, several at once:
        the MSL compiles (our compiler), then the device builds (the cpu
        emulator's C++ compiles, a Metal pipeline) run on a thread pool, both
        without the GIL. A config that fails here is left for _bench, which
        meets the same error and reports it as before; the timings and so the
        choice are those of the serial path."""
        workers = min(len(configs), os.cpu_count() or 1)
        if workers < 2:
            return

        def build(config):
            try:
                self._check_conflicts(kwargs, config)
                compiled = self.fn.run(*args, **{**kwargs, "warmup": True}, **config.all_kwargs())
                init = getattr(compiled, "_init_handles", None)
                if init is not None:
                    init()
            except Exception:  # noqa: BLE001 -- _bench reports it, in order
                pass

        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="triton-metal-autotune") as pool:
            list(pool.map(build, configs))

    def _first_that_compiles(self, args, kwargs):
        tkey = self._tuning_key({**self.nargs, **kwargs})
        try:
            config = self._untuned.get(tkey)
        except TypeError:  # unhashable key values: decide again each time
            tkey, config = None, None
        if config is not None:
            return config
        self._failures = []
        for c in self.prune_configs(kwargs):
            self._check_conflicts(kwargs, c)
            if self._compiles(args, kwargs, c):
                if tkey is not None:
                    self._untuned[tkey] = c
                return c
        c, e = self._failures[0]
        raise e

    def _tune(self, tkey, args, kwargs):
        # pruning runs first, as upstream's does on every tuning: its hooks are
        # called, and a persisted choice is taken only if it survives them now
        pruned = self.prune_configs(kwargs)
        config, path = self._load(tkey)
        if config is not None and any(str(c) == str(config) for c in pruned):
            self.cache[tkey] = config
            return config
        t0 = time.perf_counter()
        self._failures = []
        if len(pruned) == 1:
            timings = {pruned[0]: [0.0, 0.0, 0.0]}
        else:
            self._precompile(args, kwargs, pruned)
            timings = {c: self._bench(*args, config=c, **kwargs) for c in pruned}
        self.bench_time = time.perf_counter() - t0
        config = builtins.min(timings, key=lambda c: timings[c][0])
        if timings[config][0] == float("inf"):
            c, e = self._failures[0]
            raise RuntimeError(f"autotune: every config of {self.__name__} failed; the first, "
                               f"{c}, with {type(e).__name__}: {e}") from e
        if len(pruned) > 1:
            # the benchmark ran the kernel: reset_to_zero arguments start again from zero
            # (as upstream, a user's pre_hook is called so too)
            self.pre_hook({**self.nargs, **kwargs, **config.all_kwargs()}, reset_only=True)
        self.configs_timings = timings
        self.cache[tkey] = config
        self._store(path, config, timings)
        if _print_autotuning():
            print(f"Triton autotuning for function {self.__name__} finished after "
                  f"{self.bench_time:.2f}s; best config selected: {config};")
        return config

    def warmup(self, *args, **kwargs):
        """Compiles every pruned config for these arguments (no launch)."""
        self.nargs = dict(zip(self.arg_names, args))
        try:
            return [self.fn.warmup(*args, **kwargs, **c.all_kwargs())
                    for c in self.prune_configs(kwargs)]
        finally:
            self.nargs = None


def autotune(configs, key, prune_configs_by=None, reset_to_zero=None, restore_value=None,
             pre_hook=None, post_hook=None, warmup=None, rep=None, use_cuda_graph=False,
             do_bench=None, cache_results=None):
    """Decorator: benchmark `configs` for each new value of the `key` arguments and
    launch with the fastest (see the module comment)."""
    def decorator(fn):
        return Autotuner(fn, _base_jit(fn).arg_names, configs, key, reset_to_zero,
                         restore_value, pre_hook=pre_hook, post_hook=post_hook,
                         prune_configs_by=prune_configs_by, warmup=warmup, rep=rep,
                         use_cuda_graph=use_cuda_graph, do_bench=do_bench,
                         cache_results=cache_results)
    return decorator


class Heuristics(KernelInterface):
    """Computes meta-parameters from the arguments before each launch."""

    def __init__(self, fn, arg_names, values):
        self.fn = fn
        self.arg_names = list(arg_names)
        self.values = dict(values)
        self.__name__ = getattr(fn, "__name__", "kernel")

    def run(self, *args, **kwargs):
        for name, heur in self.values.items():
            kwargs[name] = heur({**dict(zip(self.arg_names, args)), **kwargs})
        return self.fn.run(*args, **kwargs)

    def warmup(self, *args, **kwargs):
        for name, heur in self.values.items():
            kwargs[name] = heur({**dict(zip(self.arg_names, args)), **kwargs})
        return self.fn.warmup(*args, **kwargs)


def heuristics(values):
    """Decorator: @heuristics({"BLOCK": lambda args: ...}) sets BLOCK from the
    arguments' dict at each launch."""
    def decorator(fn):
        return Heuristics(fn, _base_jit(fn).arg_names, values)
    return decorator

