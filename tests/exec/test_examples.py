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


@pytest.mark.parametrize("Z,H,N_CTX,HEAD_DIM,dtype", [(1, 2, 50, 16, np.float32), (1, 1, 70, 32, np.float16)])
def test_attention(Z, H, N_CTX, HEAD_DIM, dtype):
    assert example("attention").main(Z, H, N_CTX, HEAD_DIM, dtype)
