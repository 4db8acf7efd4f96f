# liger_device.py: a pytest plugin (pytest -p cpu_bounds -p liger_device) for
# Liger-Kernel's own test files on triton-metal. Liger's tests ask two device
# questions that have no answer for torch's CPU device; this plugin answers them
# for the device kernels run on, and changes nothing else:
#
#   bfloat16   test/utils.py supports_bfloat16() is True only for cuda (>= sm80),
#              xpu and npu, so every bfloat16 parametrization is skipped on "cpu".
#              Here it answers whether triton-metal's device has bfloat16
#              (check_compatibility()'s kernel_features.bfloat: the emulator built
#              with clang, Metal on macOS 14+).
#   memory     torch.cpu has no get_device_properties(); test_tvd.py reads
#              getattr(torch, device).get_device_properties(0).total_memory in a
#              skipif. It gets the host's memory instead of an AttributeError at
#              collection. Nothing a kernel computes reads it.
import functools
import os
import sys

os.environ.setdefault("TRITON_METAL_DEVICE", "cpu")


@functools.lru_cache(maxsize=None)
def device_has_bfloat16():
    import triton_metal
    return bool(triton_metal.check_compatibility()["kernel_features"]["bfloat"]["available"])


class _HostProperties:
    def __init__(self):
        self.total_memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        self.name = "cpu"


def pytest_configure(config):
    try:
        import torch
    except ImportError:
        return
    if not hasattr(torch.cpu, "get_device_properties"):
        torch.cpu.get_device_properties = lambda device=None: _HostProperties()


def pytest_sessionstart(session):
    # after the rootdir conftest imported test.utils, before the test modules
    # evaluate their skipif(not supports_bfloat16()) marks
    tu = sys.modules.get("test.utils")
    if tu is not None and hasattr(tu, "supports_bfloat16") and device_has_bfloat16():
        tu.supports_bfloat16 = lambda: True
