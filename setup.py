# setup.py: builds the triton_metal._C extension, as the Makefile does: the module
# sources (python/triton_metal/*.c) plus the whole compiler (src/*.c), the target
# layer (target/*.c) and runtime (runtime/*.c, runtime/*/*.c), after generating
# build/gen/shim_text.inc from runtime/cpu/metal_stdlib.
# Package metadata lives in pyproject.toml. Works with `pip install .` and
# `pip install -e .` on Linux (gcc/clang) and macOS (Apple clang).
# python/triton-metal.pth goes next to the package in site-packages: the startup
# hook that makes `import triton` ours (first with TRITON_BACKEND=metal; otherwise
# only where no other Triton is installed). The `triton-metal` command is the C
# CLI (cli/*.c linked with the extension's compiler and runtime objects), built
# next to the extension as triton_metal/triton-metal and run by the console
# script triton_metal._cli (pyproject.toml [project.scripts]). After the build,
# tools/make_seed.py makes the emulator's seed for new kernel caches in the
# built package (triton_metal/_seed/cpu), as `make all` does in the checkout.
import glob
import os
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
GEN_DIR = os.path.join("build", "gen")
GEN = os.path.join(GEN_DIR, "shim_text.inc")


def sources(pattern):
    return sorted(glob.glob(pattern))


EMBEDDED = [  # (source, generated include, C name): the same rules as the Makefile's
    (os.path.join("runtime", "cpu", "metal_stdlib"), GEN, "tm_shim_text"),
    (os.path.join("src", "stdlib.py"), os.path.join(GEN_DIR, "stdlib_text.inc"), "tm_stdlib_text_data"),
    (os.path.join("src", "cuda_prelude.cuh"), os.path.join(GEN_DIR, "cuda_prelude.inc"), "tm_cuda_prelude_text"),
]


FORK_SRC = os.path.join("runtime", "cpu", "fork", "cxx_fork.c")
FORK_SO = os.path.join(GEN_DIR, "cxx_fork.so")
HAVE_FORK = sys.platform.startswith("linux")


def generate_embedded():
    for src, out, name in EMBEDDED:
        embed(os.path.join(HERE, src), os.path.join(HERE, out), name)
    if HAVE_FORK:  # the emulator's compile server, as the Makefile builds it
        so = os.path.join(HERE, FORK_SO)
        deps = [os.path.join(HERE, FORK_SRC), os.path.join(HERE, "runtime", "cpu", "cxx_fork.h")]
        if not os.path.exists(so) or os.path.getmtime(so) < max(map(os.path.getmtime, deps)):
            os.makedirs(os.path.dirname(so), exist_ok=True)
            subprocess.run([os.environ.get("CC", "cc"), "-std=c11", "-D_GNU_SOURCE", "-O2", "-fPIC", "-shared",
                            "-s", "-I" + os.path.join(HERE, "runtime", "cpu"), deps[0], "-ldl", "-o", so],
                           check=True)
        embed(so, os.path.join(HERE, GEN_DIR, "cxx_fork_so.inc"), "tm_cxx_fork_so")


def embed(src, out, name):
    """out: `python3 tools/embed.py SRC NAME`."""
    if not os.path.exists(src):
        return
    if os.path.exists(out) and os.path.getmtime(out) >= max(
            os.path.getmtime(src), os.path.getmtime(os.path.join(HERE, "tools", "embed.py"))):
        return
    os.makedirs(os.path.dirname(out), exist_ok=True)
    text = subprocess.run([sys.executable, os.path.join(HERE, "tools", "embed.py"), src,
                           name], check=True, stdout=subprocess.PIPE).stdout
    with open(out + ".tmp", "wb") as f:
        f.write(text)
    os.replace(out + ".tmp", out)


class BuildExt(build_ext):
    def run(self):
        generate_embedded()
        super().run()
        self.make_seed()

    def make_seed(self):
        """The emulator's seed for new kernel caches (tools/make_seed.py, as
        `make all` makes it), made with the package just built: a pip-installed
        package's first kernels then neither build the precompiled shims nor
        ask the compiler who it is. Without a C++ compiler here it says so and
        the package works without a seed."""
        root = os.path.join(HERE, "python") if self.inplace else os.path.abspath(self.build_lib)
        tool = os.path.join(HERE, "tools", "make_seed.py")
        if not os.path.isfile(tool) or not os.path.isfile(os.path.join(root, "triton_metal", "__init__.py")):
            return  # the package's Python files are not beside the extension (build_py did not run)
        print("making the emulator's seed for new kernel caches (tools/make_seed.py)")
        subprocess.run([sys.executable, tool, "--package-root", root], check=False)

    def build_extension(self, ext):
        super().build_extension(ext)
        if ext.name == "triton_metal._C":
            self.build_cli(ext)

    def build_cli(self, ext):
        """Links cli/*.c with the compiler and runtime objects just built for ext."""
        lib_sources = [s for s in ext.sources if not s.startswith(os.path.join("python", ""))]
        objects = self.compiler.object_filenames(lib_sources, output_dir=self.build_temp)
        objects += self.compiler.compile(sources("cli/*.c"), output_dir=self.build_temp,
                                         macros=ext.define_macros,
                                         include_dirs=ext.include_dirs,
                                         extra_postargs=ext.extra_compile_args,
                                         depends=ext.depends)
        out_dir = os.path.dirname(self.get_ext_fullpath(ext.name))
        self.compiler.link_executable(objects, "triton-metal", output_dir=out_dir,
                                      libraries=ext.libraries,
                                      extra_postargs=ext.extra_link_args)


class BuildPy(build_py):
    """Also copies the startup hook (triton-metal.pth) to the top of the build."""

    def run(self):
        super().run()
        self.copy_file(os.path.join(HERE, "python", "triton-metal.pth"),
                       os.path.join(self.build_lib, "triton-metal.pth"))


link_args, libraries = [], ["m"]
if sys.platform == "darwin":
    # the metal device calls the Objective-C runtime from C
    link_args = ["-framework", "Foundation", "-framework", "Metal", "-lobjc"]
else:
    libraries += ["dl", "pthread"]

ext = Extension(
    "triton_metal._C",
    sources=sources("python/triton_metal/*.c") + sources("src/*.c") + sources("target/*.c")
    + sources("runtime/*.c") + sources("runtime/*/*.c"),
    include_dirs=["include", "target", "src", "runtime", "runtime/cpu", "runtime/metal", "runtime/sim",
                  "runtime/cuda", GEN_DIR],
    define_macros=[("_GNU_SOURCE", None)] + ([("TM_HAVE_CXX_FORK", None)] if HAVE_FORK else []),
    extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter",
                        "-Wno-missing-field-initializers"],
    extra_link_args=link_args,
    libraries=libraries,
    depends=sources("include/*.h") + sources("src/*.h") + sources("target/*.h") + sources("runtime/*.h")
    + sources("runtime/*/*.h") + sources("runtime/cpu/metal_stdlib"),
)

setup(ext_modules=[ext], cmdclass={"build_ext": BuildExt, "build_py": BuildPy})
