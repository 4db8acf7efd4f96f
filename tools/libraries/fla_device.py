# fla_device.py: a pytest plugin (pytest -p cpu_bounds -p fla_device) for
# flash-linear-attention's own test files on triton-metal's CPU emulator.
#
# fla.utils derives `device` from triton's target backend ("cpu" here) and then,
# for torch.amp's custom_fwd, replaces "cpu" by "cuda" (fla/utils/hardware.py):
# its tests, which allocate on fla.utils.device and synchronize
# fla.utils.device_torch_lib, would ask torch for CUDA. This plugin sets both back
# to the device the target names, at import (before fla's conftest.py and test
# modules import them); nothing else of fla changes.
import os

os.environ.setdefault("TRITON_METAL_DEVICE", "cpu")


def _pick_device():
    try:
        import torch
        import fla.utils as fu
        import fla.utils.hardware as hw
    except ImportError:
        return
    target = hw.get_available_device()
    for m in (fu, hw):
        m.device = target
        m.device_torch_lib = getattr(torch, target)


_pick_device()
