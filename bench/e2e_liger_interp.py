# e2e_liger_interp.py: the interpreter side's counterpart of
# tools/libraries/liger_device.py, a pytest plugin for bench/e2e.py's Liger
# workloads (pytest -p cpu_bounds -p e2e_liger_interp, under TRITON_INTERPRET=1
# with upstream Triton). liger_device asks triton-metal whether its device has
# bfloat16, which makes Liger's bfloat16 parametrizations run on our side; here
# bench/e2e.py passes that answer on (E2E_LIGER_BF16=1), so that both sides run
# the same parametrizations, and the same host-memory answer for
# torch.cpu.get_device_properties. Nothing else changes.
import os
import sys

from liger_device import _HostProperties


def pytest_configure(config):
    import torch
    if not hasattr(torch.cpu, "get_device_properties"):
        torch.cpu.get_device_properties = lambda device=None: _HostProperties()


def pytest_sessionstart(session):
    tu = sys.modules.get("test.utils")
    if tu is not None and hasattr(tu, "supports_bfloat16") and os.environ.get("E2E_LIGER_BF16") == "1":
        tu.supports_bfloat16 = lambda: True
