"""Differential testing: random well-typed kernels (tests/diff/gen.py) run on
the emulator and compared, bit for bit, with a NumPy evaluation of the same
program. TM_DIFF_CASES cases (default 40) from TM_DIFF_SEED (default 0);
`make diff-long` runs more. A failing case prints its seed; reproduce with
`python3 tests/diff/gen.py SEED` and TM_DIFF_SEED=SEED TM_DIFF_CASES=1."""
import importlib.util
import os
import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from gen import Program  # noqa: E402

FIRST = int(os.environ.get("TM_DIFF_SEED", "0"))
CASES = int(os.environ.get("TM_DIFF_CASES", "40"))


def load_kernel(prog, folder):
    path = folder / f"diff_{prog.seed}.py"
    path.write_text(prog.source)
    spec = importlib.util.spec_from_file_location(f"diff_{prog.seed}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.kernel


@pytest.mark.parametrize("seed", range(FIRST, FIRST + CASES))
def test_random_kernel_matches_numpy(seed, tmp_path):
    prog = Program(seed)
    kernel = load_kernel(prog, tmp_path)
    arrays = prog.make_inputs()
    expected = prog.evaluate(arrays)
    out = np.full(prog.out_size() + 3, 77, dtype=expected.dtype)  # a tail the kernel must not touch
    grid, scalars, meta = prog.launch_args()
    kernel[grid](*arrays, out, *scalars, **meta)
    where = f"seed {seed}:\n{prog.source}"
    np.testing.assert_array_equal(out[:prog.out_size()], expected, err_msg=where)
    assert (out[prog.out_size():] == 77).all(), where
