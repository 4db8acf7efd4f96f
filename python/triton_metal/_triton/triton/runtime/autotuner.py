# triton.runtime.autotuner
from triton_metal.autotuner import (Autotuner, Config, Heuristics, autotune, heuristics,  # noqa: F401
                                    KernelInterface)
from triton_metal.errors import OutOfResources, PTXASError  # noqa: F401
