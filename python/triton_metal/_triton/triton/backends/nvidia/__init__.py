# triton.backends.nvidia: upstream's NVIDIA backend is not part of triton-metal.
# The module exists because code that only asks where NVIDIA's tools are (e.g.
# upstream's test helpers) imports it unconditionally; see compiler.py.
