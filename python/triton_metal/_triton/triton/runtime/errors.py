# triton.runtime.errors
from triton_metal.errors import OutOfResources, InterpreterError, PTXASError  # noqa: F401
