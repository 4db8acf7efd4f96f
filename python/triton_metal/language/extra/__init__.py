# language/extra: `triton_metal.language.extra` (upstream `triton.language.extra`).
from . import libdevice
