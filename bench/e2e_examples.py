"""bench/e2e.py's example workload: one example of examples/ at the sizes
tests/exec/test_examples.py runs it with, in this process, as a user would run
it. The same file serves both sides: on ours `triton_metal` is triton-metal; on
the interpreter side it is bench/e2e_interp's stand-in (upstream Triton under
that name, TRITON_INTERPRET=1).

    python bench/e2e_examples.py NAME       exit status 0 when every call matched NumPy
    python bench/e2e_examples.py NAME --import-only   the module imported, no kernel run
                                                      (bench/e2e.py's start-up figure)
"""
import os
import sys

import numpy as np

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")

# tests/exec/test_examples.py's calls (kept in step with it by hand: the sizes
# of its parametrizations, none a multiple of the blocks)
CALLS = {
    "vector_add": [(10_007,)],
    "dropout": [(100_003,)],
    "softmax": [(3, 37), (130, 1000)],
    "matmul": [(45, 70, 33), (96, 64, 130)],
    "layer_norm": [(5, 7, np.float32), (70, 300, np.float32), (33, 200, np.float16)],
    "attention": [(1, 2, 50, 16, np.float32), (1, 1, 70, 32, np.float16)],
}


def main():
    name = sys.argv[1]
    sys.path.insert(0, EXAMPLES)
    mod = __import__(name)
    if sys.argv[2:] == ["--import-only"]:
        return 0
    ok = all([mod.main(*args) for args in CALLS[name]])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
