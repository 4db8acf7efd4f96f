# runtime.py: the `triton.runtime` surface that launchers and install checks use:
#
#   triton.runtime.driver.active      get_current_target(), get_current_device(),
#                                     get_device_interface(), get_benchmarker(),
#                                     utils.get_device_properties(), ...
#   'metal' in triton.runtime.backends
#   triton.runtime.jit.JITFunction, triton.runtime.autotuner.{Autotuner, Config,
#   Heuristics}, triton.runtime.errors.OutOfResources
#
# The driver answers from the process's device (jit.get_device()), opened on
# first use.

import types

from . import autotuner as _autotuner
from .jit import JITFunction as _JITFunction, jit as _jit_decorator, get_device, _target_name
from . import testing as _testing
from .errors import OutOfResources, InterpreterError, PTXASError



def _torch_device_type():
    """The torch device type our kernels' tensors live on: 'mps' on the metal
    device, 'cuda' on the cuda device (the GPU proxy), 'cpu' on the emulator
    and metal-sim (host memory)."""
    return {"metal": "mps", "cuda": "cuda"}.get(get_device().name, "cpu")


class DriverBase:
    """Upstream's driver interface (triton.backends.driver.DriverBase)."""

    @classmethod
    def is_active(cls):
        raise NotImplementedError

    def get_current_target(self):
        raise NotImplementedError

    def get_active_torch_device(self):
        raise NotImplementedError

    def get_benchmarker(self):
        raise NotImplementedError


class GPUDriver(DriverBase):
    """Upstream's base of GPU drivers; MetalDriver is one."""


class _Utils:
    def get_device_properties(self, device=0):
        """What tutorials read: max_shared_mem, multiprocessor_count, warpSize, ..."""
        import os
        return {"max_shared_mem": 32768, "max_num_regs": 65536,
                "multiprocessor_count": os.cpu_count() or 1, "warpSize": 32,
                "sm_clock_rate": 0, "mem_clock_rate": 0, "mem_bus_width": 0,
                "device": get_device().name}


class _DeviceInterface:
    """The torch.cuda-like object do_bench users ask for."""

    @staticmethod
    def synchronize(device=None):
        """Waits for every launch of the device (tm_device_synchronize)."""
        get_device().synchronize()

    @staticmethod
    def current_device():
        return 0

    @staticmethod
    def device_count():
        return 1


class MetalDriver(GPUDriver):
    """triton.runtime.driver.active for triton-metal. Its target's `backend` is the
    torch device type of the tensors kernels take ('mps' on Metal, 'cpu' on the
    emulator), as upstream's CPU and AMD drivers name theirs: libraries do
    getattr(torch, target.backend) and torch.amp.custom_fwd(device_type=...)."""

    backend = "metal"

    def __init__(self):
        self.utils = _Utils()

    @classmethod
    def is_active(cls):
        return True

    def get_current_target(self):
        from .compiler import GPUTarget
        return GPUTarget(_torch_device_type(), _target_name(), 32)

    def get_current_device(self):
        return 0

    def set_current_device(self, device):
        if device not in (0, None):
            raise ValueError(f"triton-metal has one device (0), got {device!r}")

    def get_current_stream(self, device=None):
        return 0

    def get_device_interface(self):
        return _DeviceInterface

    def get_benchmarker(self):
        return _testing.do_bench

    def get_active_torch_device(self):
        import torch
        return torch.device(_torch_device_type())

    def get_empty_cache_for_benchmark(self):
        return None

    def clear_cache(self, cache):
        _testing._flush_cache()

    def map_python_to_cpp_type(self, ty):
        return ty


class _DriverConfig:
    """upstream's triton.runtime.driver: .active, .default, set_active, reset_active."""

    def __init__(self):
        self.default = MetalDriver()
        self._active = None

    @property
    def active(self):
        return self._active or self.default

    def set_active(self, driver):
        self._active = driver

    def reset_active(self):
        self._active = None


driver = _DriverConfig()


class _Backend:
    def __init__(self, name, compiler, driver):
        self.name, self.compiler, self.driver = name, compiler, driver


from .compiler import MetalBackend  # noqa: E402

backends = {"metal": _Backend("metal", MetalBackend, MetalDriver)}

jit = types.SimpleNamespace(JITFunction=_JITFunction, jit=_jit_decorator,
                            KernelInterface=_autotuner.KernelInterface)
autotuner = types.SimpleNamespace(Autotuner=_autotuner.Autotuner, Config=_autotuner.Config,
                                  Heuristics=_autotuner.Heuristics,
                                  autotune=_autotuner.autotune,
                                  heuristics=_autotuner.heuristics)
errors = types.SimpleNamespace(OutOfResources=OutOfResources, InterpreterError=InterpreterError,
                               PTXASError=PTXASError)
Autotuner, Config, Heuristics = _autotuner.Autotuner, _autotuner.Config, _autotuner.Heuristics
JITFunction, KernelInterface = _JITFunction, _autotuner.KernelInterface
