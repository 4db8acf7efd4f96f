# cpu_bounds.py: a pytest plugin (pytest -p cpu_bounds, with this folder on
# PYTHONPATH) that runs a library's own test files, unedited, on triton-metal's
# CPU emulator. It is the only thing between the library's tests and us:
#
#   device   TRITON_METAL_DEVICE defaults to cpu; torch tensors stay on the CPU
#            (the libraries' infer_device() answers "cpu" on a machine without
#            CUDA, and triton's target backend is "cpu" there).
#   shapes   a parametrized test whose work is over TM_LIBS_MAX_WORK (default
#            2**26) is skipped, with its work in the reason, so the counts show
#            it. Work = the product of the test's integer parameters that are
#            sizes (every int >= 2, the product of a tuple of ints, the last of
#            a list of offsets such as cu_seqlens, which then replaces the batch
#            and length parameters; except the names in NOT_SIZES): B*T*V for a cross-entropy, B*T*H*V for a
#            fused linear cross-entropy. The emulator runs a 2**26 one in ~5 s.
import math
import os

os.environ.setdefault("TRITON_METAL_DEVICE", "cpu")

import pytest  # noqa: E402

NOT_SIZES = {"ignore_index", "label_smoothing", "lse_square_scale", "atol", "rtol",
             "world_size", "num_groups", "num_kv_heads", "seed", "scale",
             "mrope_section"}  # a partition of head_dim / 2, not a shape


def max_work():
    return int(float(os.environ.get("TM_LIBS_MAX_WORK", 2 ** 26)))


BATCH_AND_LENGTH = {"B", "T", "bsz", "batch_size", "seq_len"}


def is_offsets(v):
    return (isinstance(v, (tuple, list)) and len(v) > 1 and all(type(x) is int for x in v)
            and v[0] == 0 and list(v) == sorted(v))


def work(params):
    """The product of the size-like integers among a test's parameters. With
    offsets (cu_seqlens) the total length is their last: batch and length
    parameters are then not counted (the tests set B = 1 and T = cu_seqlens[-1])."""
    varlen = any(is_offsets(v) for v in params.values())
    w = 1
    for name, v in params.items():
        if name in NOT_SIZES or (varlen and name in BATCH_AND_LENGTH):
            continue
        if type(v) is int and v >= 2:
            w *= v
        elif isinstance(v, (tuple, list)) and v and all(type(x) is int for x in v):
            if is_offsets(v):  # offsets (cu_seqlens): the total length
                w *= max(v[-1], 1)
            else:  # a shape
                w *= math.prod(x for x in v if x >= 1)
    return w


def pytest_collection_modifyitems(config, items):
    limit = max_work()
    for item in items:
        cs = getattr(item, "callspec", None)
        if cs is None:
            continue
        w = work(cs.params)
        if w > limit:
            item.add_marker(pytest.mark.skip(
                reason=f"cpu_bounds: work {w} > TM_LIBS_MAX_WORK {limit} (CPU emulator)"))
