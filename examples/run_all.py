"""Runs every example kernel on the best available device and reports, for each,
what ran, where, whether it matched NumPy, and how long it took.

    python examples/run_all.py          (TRITON_METAL_DEVICE=cpu|metal to choose)
"""
import contextlib
import importlib
import io
import pathlib
import sys
import time

import triton_metal

HERE = pathlib.Path(__file__).resolve().parent
EXAMPLES = ["vector_add", "dropout", "softmax", "matmul", "layer_norm", "attention"]


def main() -> int:
    sys.path.insert(0, str(HERE))
    dev = triton_metal.get_device()
    print(f"device: {dev.name} ({dev.description})")
    failed = 0
    for name in EXAMPLES:
        mod = importlib.import_module(name)
        t0 = time.perf_counter()
        ok = mod.main()
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the same result line again: once is enough
            ok = mod.main() and ok
        again = time.perf_counter() - t0
        print(f"  {name}: {'ok' if ok else 'MISMATCH'}; first run {first * 1e3:.1f} ms "
              f"(compile + run), cached run {again * 1e3:.1f} ms")
        failed += not ok
    print("all examples match NumPy" if not failed else f"{failed} example(s) did not match NumPy")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
