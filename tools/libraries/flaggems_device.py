# flaggems_device.py: a pytest plugin (pytest -p cpu_bounds -p flaggems_device)
# for FlagGems' own test files on triton-metal's CPU emulator.
#
# FlagGems picks a vendor backend at import (flag_gems.runtime): GEMS_VENDOR if it
# names a member of its `vendors` enum, else whichever vendor's query command
# (nvidia-smi, ...) succeeds. Its backend folder has a CPU vendor, `arm` (device
# "cpu", its own op variants), that the enum does not list, so no setting reaches
# it and the import fails on a machine without a vendor's GPU. Its CPU path also
# asks torch.cpu for what only the GPU modules have: `torch.cpu.device(i)` (a
# context manager around each launch) and `current_device()` as an index into a
# per-device tuple (torch.cpu answers the string "cpu").
#
# Its random ops read and advance a CUDA-style Philox state, a (seed, offset)
# pair, from torch.<device>.default_generators; torch's CPU generator is a
# Mersenne Twister with no such state.
#
# This plugin, imported before FlagGems' conftest.py: loads flag_gems' vendor
# enum with `arm` added and sets GEMS_VENDOR=arm; gives torch.cpu a `device`
# context that does nothing (the CPU is one device), a current_device() of 0,
# and default_generators holding one Philox (seed, offset) state, seeded as
# CUDA's is: from torch.manual_seed (torch.initial_seed()), offset 0 after each
# new seed; and, once flag_gems is imported, tells it the device has no float64 (Metal has
# none: FlagGems then leaves float64 out of its tests, as for its other vendors
# without it, instead of every float64 case failing on triton-metal's refusal).
# No kernel and no test of FlagGems changes.
import contextlib
import enum
import importlib.util
import os
import sys

os.environ.setdefault("TRITON_METAL_DEVICE", "cpu")


def _vendor_enum_with_arm():
    spec = importlib.util.find_spec("flag_gems")
    if spec is None or not spec.submodule_search_locations:
        return
    path = os.path.join(spec.submodule_search_locations[0], "runtime", "common.py")
    name = "flag_gems.runtime.common"
    mspec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(mod)
    members = {v.name: v.value for v in mod.vendors}
    if "ARM" not in members:
        members["ARM"] = max(members.values()) + 1
        vendors = enum.Enum("vendors", members)
        vendors.get_all_vendors = classmethod(lambda cls: {v.name.lower(): v for v in cls})
        mod.vendors = vendors
    sys.modules[name] = mod
    os.environ["GEMS_VENDOR"] = "arm"


class _OneDevice(contextlib.nullcontext):
    def __init__(self, index=None):
        super().__init__()


class PhiloxState:
    """A (seed, offset) pair as get_state()/set_state() bytes, as a CUDA generator's."""

    def __init__(self):
        self._seed = None
        self._state = None

    def _sync(self):
        import torch
        seed = torch.initial_seed()
        if seed != self._seed:  # torch.manual_seed since: start over, as CUDA's generators do
            self._seed = seed
            self._state = torch.tensor([seed & (2 ** 63 - 1), 0], dtype=torch.int64)

    def get_state(self):
        import torch
        self._sync()
        return self._state.clone().view(torch.uint8)

    def set_state(self, state):
        import torch
        self._sync()
        self._state = state.clone().view(torch.int64)

    def initial_seed(self):
        self._sync()
        return self._seed


def _torch_cpu_as_a_device():
    import torch
    if not hasattr(torch.cpu, "device"):
        torch.cpu.device = _OneDevice
    torch.cpu.current_device = lambda: 0
    if not hasattr(torch.cpu, "default_generators"):
        torch.cpu.default_generators = (PhiloxState(),)


_vendor_enum_with_arm()
_torch_cpu_as_a_device()


def pytest_configure(config):
    import flag_gems
    flag_gems.runtime.device.support_fp64 = False
