# An unchanged upstream-style script: `import triton`, `import triton.language as tl`,
# a kernel, a launcher with a grid callable, triton.testing, autotune and the
# driver checks users run after installing. Run by test_compat.py through
# triton_metal.install() (explicitly, or TRITON_BACKEND=metal and the .pth hook).
import numpy as np
import triton
import triton.language as tl
from triton.runtime import driver


@triton.jit
def add_kernel(x_ptr, y_ptr, output_ptr, n_elements, BLOCK_SIZE: tl.constexpr):
    pid = tl.program_id(axis=0)
    block_start = pid * BLOCK_SIZE
    offsets = block_start + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    y = tl.load(y_ptr + offsets, mask=mask)
    tl.store(output_ptr + offsets, x + y, mask=mask)


@triton.autotune(configs=[triton.Config({"BLOCK_SIZE": 128}, num_warps=4),
                          triton.Config({"BLOCK_SIZE": 256}, num_warps=8)],
                 key=["n_elements"], warmup=1, rep=1)
@triton.jit
def add_tuned(x_ptr, y_ptr, output_ptr, n_elements, BLOCK_SIZE: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    tl.store(output_ptr + offsets,
             tl.load(x_ptr + offsets, mask=mask) + tl.load(y_ptr + offsets, mask=mask), mask=mask)


def add(x, y, kernel=add_kernel, **meta):
    output = np.empty_like(x)
    n_elements = output.size
    grid = lambda meta: (triton.cdiv(n_elements, meta["BLOCK_SIZE"]),)  # noqa: E731
    kernel[grid](x, y, output, n_elements, **meta)
    return output


x = np.random.rand(98432).astype(np.float32)
y = np.random.rand(98432).astype(np.float32)
triton.testing.assert_close(add(x, y, BLOCK_SIZE=1024), x + y, atol=0, rtol=0)
triton.testing.assert_close(add(x, y, kernel=add_tuned), x + y, atol=0, rtol=0)
ms = triton.testing.do_bench(lambda: add(x, y, BLOCK_SIZE=1024), warmup=1, rep=5)
assert ms > 0
assert "metal" in triton.runtime.backends
target = driver.active.get_current_target()
assert target.backend in ("cpu", "mps") and target.warp_size == 32
assert driver.active.utils.get_device_properties(driver.active.get_current_device())["max_shared_mem"] > 0
assert triton.next_power_of_2(1000) == 1024
from triton.tools.tensor_descriptor import TensorDescriptor  # noqa: E402
desc = TensorDescriptor.from_tensor(np.zeros((64, 32), np.float32), [16, 16])
assert desc.strides == [32, 1]
import triton.language.extra.libdevice  # noqa: E402,F401
from triton.language.extra import libdevice  # noqa: E402,F401
print("UPSTREAM-STYLE OK", triton.__name__, tl.__name__)
