# triton.runtime.interpreter: upstream runs kernels in Python when TRITON_INTERPRET=1.
# triton-metal has no interpreter mode (its CPU device runs the generated MSL), so
# no InterpretedFunction object ever exists; the class is here for isinstance checks.


class InterpretedFunction:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("triton-metal has no interpreter mode (TRITON_INTERPRET); "
                           "kernels run on the cpu device instead")
