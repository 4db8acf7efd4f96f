# triton.runtime.cache: the kernel cache's folder and the compiler's identity
from triton_metal.cache import default_cache_dir, triton_key  # noqa: F401
from triton import knobs  # noqa: F401
