# knobs.py: upstream's `triton.knobs`, the process's Triton settings as objects.
# Only settings that change what triton-metal does are here; each reads and
# writes the environment variable it stands for, so a change is seen by the
# code that reads that variable (the cache, the autotuner, the jit).
#
#   knobs.cache.dir                TRITON_METAL_CACHE_DIR   kernel cache folder
#   knobs.compilation.always_compile  TRITON_ALWAYS_COMPILE  skip reading the disk cache
#   knobs.autotuning.print         TRITON_PRINT_AUTOTUNING  print each tuning result
#   knobs.autotuning.cache         TRITON_METAL_CACHE_AUTOTUNING  keep tuning results on disk
#   knobs.runtime.debug            TRITON_DEBUG             device_assert and bounds checks on
#   knobs.runtime.interpret        always False: there is no interpreter mode here
import os

from . import cache as _cache


class _EnvFlag:
    def __init__(self, var, default=False):
        self.var, self.default = var, default

    def __get__(self, obj, objtype=None):
        v = os.environ.get(self.var)
        if v is None:
            return self.default
        return v.strip().lower() in ("1", "true", "on", "yes")

    def __set__(self, obj, value):
        os.environ[self.var] = "1" if value else "0"


class _cache_knobs:
    @property
    def dir(self):
        return _cache.root()

    @dir.setter
    def dir(self, value):
        os.environ["TRITON_METAL_CACHE_DIR"] = str(value)


class _compilation_knobs:
    always_compile = _EnvFlag("TRITON_ALWAYS_COMPILE")


class _autotuning_knobs:
    print = _EnvFlag("TRITON_PRINT_AUTOTUNING")
    cache = _EnvFlag("TRITON_METAL_CACHE_AUTOTUNING", True)


class _runtime_knobs:
    debug = _EnvFlag("TRITON_DEBUG")

    @property
    def interpret(self):
        return False


cache = _cache_knobs()
compilation = _compilation_knobs()
autotuning = _autotuning_knobs()
runtime = _runtime_knobs()

__all__ = ["cache", "compilation", "autotuning", "runtime"]
