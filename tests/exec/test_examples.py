"""Every example in examples/ runs here: its main() checks the kernels against a
NumPy reference on random data and returns True when they match. Small shapes,
none a multiple of the blocks, keep the file quick on the emulator."""
import importlib
import pathlib
import sys

import numpy as np
import pytest

import triton_metal

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"



def example(name):
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    return importlib.import_module(name)


def test_vector_add():
    assert example("vector_add").main(10_007)


def test_dropout():
    assert example("dropout").main(100_003)


@pytest.mark.parametrize("n_rows,n_cols", [(3, 37), (130, 1000)])
def test_softmax(n_rows, n_cols):
    assert example("softmax").main(n_rows, n_cols)


@pytest.mark.parametrize("M,N,K", [(45, 70, 33), (96, 64, 130)])
def test_matmul(M, N, K):
    assert example("matmul").main(M, N, K)


@pytest.mark.parametrize("M,N,dtype", [(5, 7, np.float32), (70, 300, np.float32), (33, 200, np.float16)])
def test_layer_norm(M, N, dtype):
    assert example("layer_norm").main(M, N, dtype)


def test_layer_norm_lock_interleaved(monkeypatch):
    # the backward pass accumulates partial weight gradients under a spin lock
    # (atomic_cas / atomic_xchg) shared by programs; here under the emulator's
    # interleaved schedule, programs side by side switching threads before every
    # memory access, with two groups (rows r, r + 2, ... share a lock) so that
    # neighbouring programs contend. (A lock that does not exclude -- atomic_cas
    # as a plain load, compare and store -- is caught by
    # test_atomics.py::test_spin_lock_across_programs, not reliably here.)
    monkeypatch.setenv("TRITON_METAL_CPU_SCHEDULE", "interleave:3")
    ln = example("layer_norm")
    rng = np.random.default_rng(5)
    M, N, eps = 40, 300, 1e-5
    x = (rng.standard_normal((M, N)) * 2 - 0.5).astype(np.float32)
    w, b = rng.standard_normal(N).astype(np.float32), rng.standard_normal(N).astype(np.float32)
    dy = rng.standard_normal((M, N)).astype(np.float32)
    y, mean, rstd = ln.layer_norm_forward(x, w, b, eps)
    dx, dw, db = ln.layer_norm_backward(dy, x, w, mean, rstd, group=2)
    _, dx_ref, dw_ref, db_ref = ln.layer_norm_reference(x, w, b, dy, eps)
    tol = dict(rtol=1e-5, atol=1e-5 * np.sqrt(M))
    np.testing.assert_allclose(dx, dx_ref, **tol)
    np.testing.assert_allclose(dw, dw_ref, **tol)
    np.testing.assert_allclose(db, db_ref, **tol)


@pytest.mark.parametrize("Z,H,N_CTX,HEAD_DIM,dtype", [(1, 2, 50, 16, np.float32), (1, 1, 70, 32, np.float16)])
def test_attention(Z, H, N_CTX, HEAD_DIM, dtype):
    assert example("attention").main(Z, H, N_CTX, HEAD_DIM, dtype)
