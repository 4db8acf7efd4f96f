# triton-metal build: the C library, the CLI, the C tests and the Python extension.
#   make            build everything
#   make test       C tests + Python tests (the README's test command)
#   make demo       build, check the machine, run the examples (the README's main command)
#   make asan       C tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make golden-update   regenerate tests/golden/*.metal from the current compiler
#   make libraries  Liger-Kernel's own op tests on the CPU emulator (tools/libraries/README.md)

CC      ?= cc
PYTHON  ?= python3
BUILD   ?= build
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wno-unused-parameter
CSTD    := -std=c11 -D_GNU_SOURCE -fPIC
# the layers: target/ (what the compiler targets: the per-generation table,
# presets, hardware files), src/ (the compiler), runtime/ (devices: cpu/ the
# emulator, metal/ Metal, sim/ metal-sim, cuda/ the GPU proxy)
RT_DIRS := runtime runtime/cpu runtime/metal runtime/sim runtime/cuda
INC     := -Iinclude -Itarget -Isrc $(addprefix -I,$(RT_DIRS)) -I$(BUILD)/gen
LDLIBS  := -lm -ldl -lpthread
ifeq ($(shell uname -s),Darwin)
LDLIBS  += -lobjc -framework Metal -framework Foundation -framework CoreGraphics
endif

SRC_C   := $(wildcard src/*.c)
RT_C    := $(wildcard target/*.c) $(foreach d,$(RT_DIRS),$(wildcard $(d)/*.c))
LIB_C   := $(SRC_C) $(RT_C)
LIB_O   := $(patsubst %.c,$(BUILD)/%.o,$(LIB_C))
LIB     := $(BUILD)/libtriton_metal.a
CLI     := $(BUILD)/triton-metal
TEST_C  := $(wildcard tests/unit/*.c)
TESTS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_C))
GEN     := $(BUILD)/gen/shim_text.inc $(BUILD)/gen/stdlib_text.inc $(BUILD)/gen/cuda_prelude.inc
# the emulator's compile server (runtime/cpu/fork/cxx_fork.c): a shared object of its
# own, preloaded into the C++ compiler, embedded in the runtime; Linux with glibc only
ifeq ($(shell uname -s),Linux)
GEN     += $(BUILD)/gen/cxx_fork_so.inc
CSTD    += -DTM_HAVE_CXX_FORK
endif
EXT_SUFFIX := $(shell $(PYTHON) -c "import sysconfig;print(sysconfig.get_config_var('EXT_SUFFIX'))" 2>/dev/null)
PY_INC  := $(shell $(PYTHON) -c "import sysconfig;print(sysconfig.get_paths()['include'])" 2>/dev/null)
EXT     := python/triton_metal/_C$(EXT_SUFFIX)
# the emulator's seed for new kernel caches (tools/make_seed.py; runtime/cpu/cpu_build.c "seed")
SEED    := python/triton_metal/_seed/cpu/.made
EXT_C   := $(wildcard python/triton_metal/*.c)
# the package's bytecode, as `pip install` compiles it: an in-tree import then
# reads it instead of compiling every module (which is what it does each time
# under PYTHONDONTWRITEBYTECODE=1); a module edited since is compiled afresh
PY_SRC  := $(shell find python/triton_metal -name '*.py' -not -path '*/__pycache__/*' 2>/dev/null)
PYC     := python/triton_metal/__pycache__/.made

all: $(LIB) $(CLI) $(TESTS) $(EXT) $(SEED) $(PYC)

$(PYC): $(PY_SRC)
	@$(PYTHON) -m compileall -q python/triton_metal && touch $@

$(BUILD)/gen/shim_text.inc: runtime/cpu/metal_stdlib tools/embed.py
	@mkdir -p $(dir $@)
	$(PYTHON) tools/embed.py runtime/cpu/metal_stdlib tm_shim_text > $@.tmp && mv $@.tmp $@

# built with its own flags, never a sanitizer's: it runs inside the C++ compiler
$(BUILD)/gen/cxx_fork.so: runtime/cpu/fork/cxx_fork.c runtime/cpu/cxx_fork.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -fPIC -shared -s $(WARN) -Iruntime/cpu $< -ldl -o $@

$(BUILD)/gen/cxx_fork_so.inc: $(BUILD)/gen/cxx_fork.so tools/embed.py
	$(PYTHON) tools/embed.py $< tm_cxx_fork_so > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/cuda_prelude.inc: src/cuda_prelude.cuh tools/embed.py
	@mkdir -p $(dir $@)
	$(PYTHON) tools/embed.py src/cuda_prelude.cuh tm_cuda_prelude_text > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/stdlib_text.inc: src/stdlib.py tools/embed.py
	@mkdir -p $(dir $@)
	$(PYTHON) tools/embed.py src/stdlib.py tm_stdlib_text_data > $@.tmp && mv $@.tmp $@

$(BUILD)/%.o: %.c include/triton_metal.h $(wildcard src/*.h target/*.h runtime/*.h runtime/*/*.h) $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(CFLAGS) $(WARN) $(INC) -c $< -o $@

$(LIB): $(LIB_O)
	@rm -f $@
	ar rcs $@ $^

$(CLI): $(wildcard cli/*.c cli/*.h) $(LIB)
	$(CC) $(CSTD) $(CFLAGS) $(WARN) $(INC) $(wildcard cli/*.c) $(LIB) $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c tests/unit/check.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(CFLAGS) $(WARN) $(INC) -Itests/unit $< $(LIB) $(LDLIBS) -o $@

$(SEED): $(EXT) tools/make_seed.py
	@$(PYTHON) tools/make_seed.py && mkdir -p $(dir $@) && touch $@

$(EXT): $(EXT_C) $(LIB_C) include/triton_metal.h $(wildcard src/*.h target/*.h runtime/*.h runtime/*/*.h) $(GEN)
	$(CC) $(CSTD) $(CFLAGS) $(WARN) -Wno-missing-field-initializers -shared $(INC) -I$(PY_INC) $(EXT_C) $(LIB_C) $(LDLIBS) -o $@

# The Metal wrappers (runtime/metal/mtl_objc.c) compile only on macOS; elsewhere they
# are syntax-checked against the declarations in runtime/metal/objc-decls/.
MTL_CHECK_CC ?= $(shell command -v clang-19 || command -v clang || echo $(CC))
mtl-check:
	$(MTL_CHECK_CC) -fsyntax-only $(CSTD) $(WARN) -DTM_MTL_SYNTAX_CHECK -Iruntime/metal/objc-decls $(INC) runtime/metal/mtl_objc.c
	$(CC) -fsyntax-only $(CSTD) $(WARN) -DTM_MTL_SYNTAX_CHECK -Iruntime/metal/objc-decls $(INC) runtime/metal/mtl_objc.c

ctest: $(TESTS)
	@set -e; for t in $(TESTS); do echo "== $$t"; $$t; done

pytest: $(EXT) $(CLI)
	PYTHONPATH=python $(PYTHON) -m pytest -q tests

test:
	@bash tools/test.sh

demo:
	@bash tools/demo.sh

asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDLIBS="-lm -ldl -lpthread -fsanitize=address,undefined" build-asan/libtriton_metal.a build-asan/triton-metal \
	  $(patsubst $(BUILD)/%,build-asan/%,$(TESTS))
	@set -e; for t in $(patsubst $(BUILD)/%,build-asan/%,$(TESTS)); do echo "== $$t (asan+ubsan)"; $$t; done

golden-update: $(CLI)
	@bash tests/golden/update.sh

clean:
	rm -rf build build-asan python/triton_metal/_C*.so python/triton_metal/_seed
	find python/triton_metal -name __pycache__ -type d -prune -exec rm -rf {} +

.PHONY: all mtl-check ctest pytest test demo asan golden-update clean

# ---- reliability (tests/fuzz, tests/hostile, tests/diff; docs/reliability.md)
#   make fuzz [FUZZ_TIME=600]   libFuzzer over the compiler from source text (ASan+UBSan+LSan)
#   make fuzz-smoke             the same for FUZZ_SMOKE_TIME seconds (30)
#   make asan-py                the extension built with ASan+UBSan; tests/exec and tests/hostile under it
#   make valgrind-cli           the CLI under valgrind over the golden and error kernels
FUZZ_CC    ?= $(shell command -v clang-19 || echo clang)
FUZZ_TIME  ?= 600
FUZZ_SMOKE_TIME ?= 30
FUZZ_BIN   := $(BUILD)/fuzz/fuzz_compile
FUZZ_SAN   := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

$(FUZZ_BIN): tests/fuzz/fuzz_compile.c $(LIB_C) include/triton_metal.h $(wildcard src/*.h target/*.h runtime/*.h runtime/*/*.h) $(GEN)
	@mkdir -p $(BUILD)/fuzz/src $(BUILD)/fuzz/rt
	@set -e; for f in $(SRC_C); do $(FUZZ_CC) $(CSTD) $(FUZZ_SAN) -fsanitize=fuzzer-no-link $(WARN) $(INC) -c $$f -o $(BUILD)/fuzz/src/$$(basename $$f .c).o; done
	@set -e; for f in $(RT_C); do $(FUZZ_CC) $(CSTD) $(FUZZ_SAN) $(WARN) -Wno-missing-field-initializers $(INC) -c $$f -o $(BUILD)/fuzz/rt/$$(basename $$f .c).o; done
	$(FUZZ_CC) $(CSTD) $(FUZZ_SAN) -fsanitize=fuzzer $(WARN) $(INC) tests/fuzz/fuzz_compile.c $(BUILD)/fuzz/src/*.o $(BUILD)/fuzz/rt/*.o $(LDLIBS) -o $@

fuzz: $(FUZZ_BIN) $(CLI)
	@bash tests/fuzz/run.sh $(FUZZ_TIME)

fuzz-smoke: $(FUZZ_BIN) $(CLI)
	@bash tests/fuzz/run.sh $(FUZZ_SMOKE_TIME)

ASAN_PY_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
asan-py: $(CLI)
	@mkdir -p $(BUILD)/asan-py
	$(CC) $(CSTD) $(ASAN_PY_FLAGS) $(WARN) -Wno-missing-field-initializers -shared $(INC) -I$(PY_INC) $(EXT_C) $(LIB_C) $(LDLIBS) -o $(BUILD)/asan-py/_C$(EXT_SUFFIX)
	@CC="$(CC)" bash tests/hostile/asan_py.sh $(BUILD)/asan-py/_C$(EXT_SUFFIX)

valgrind-cli: $(CLI)
	@bash tests/hostile/valgrind_cli.sh

.PHONY: fuzz fuzz-smoke asan-py valgrind-cli

bench:
	@bash bench/run.sh

# the end-to-end benchmark (issue 18): bench/e2e.sh; E2E_ARGS=--quick for a smoke run
bench-e2e:
	@bash bench/e2e.sh

.PHONY: bench bench-e2e

DIFF_CASES ?= 1000
diff-long: $(EXT)
	TM_DIFF_CASES=$(DIFF_CASES) TM_DIFF_SEED=$${TM_DIFF_SEED:-1000} PYTHONPATH=python $(PYTHON) -m pytest -q -p no:cacheprovider tests/diff

.PHONY: diff-long

# ---- real libraries, unedited, on the CPU emulator (tools/libraries/README.md):
#   make libraries [PYTHON=venv/bin/python]   Liger-Kernel's op test files (its sdist)
libraries: $(EXT)
	TRITON_METAL_DEVICE=$${TRITON_METAL_DEVICE:-cpu} $(PYTHON) tools/libraries/run.py liger

.PHONY: libraries

# ---- upstream Triton's language tests, unchanged (tools/conformance/README.md):
#   make conformance TEST_CORE=DIR/test_core.py [DEVICE=cpu|metal-sim] [CONFORMANCE_ARGS=--all]
#   DIR holds upstream's test_core.py and _internal_testing.py (not part of this repository)
DEVICE ?= cpu
CONFORMANCE_ARGS ?= --sample 8
conformance: $(EXT)
	@test -n "$(TEST_CORE)" || { echo "make conformance: pass TEST_CORE=path/to/test_core.py"; exit 2; }
	$(PYTHON) tools/conformance/run.py --test-core $(TEST_CORE) --device $(DEVICE) $(CONFORMANCE_ARGS) --out conformance-out/$(DEVICE)

.PHONY: conformance

# ---- mutation testing (tools/mutants; docs/reliability.md)
#   make mutants       apply each mutant of tools/mutants/mutants.py to a copy of the
#                      tree (build/mutants), run the tests that should catch it, print
#                      the kill rate and the survivors (MUTANTS=id,id for some of them)
# ext-from-objects: the extension linked from the library's objects, so a rebuild
# after one file changed recompiles that file only ($(EXT) compiles every source).
EXT_O := $(patsubst python/triton_metal/%.c,$(BUILD)/ext/%.o,$(EXT_C))
$(BUILD)/ext/%.o: python/triton_metal/%.c include/triton_metal.h $(wildcard src/*.h target/*.h runtime/*.h runtime/*/*.h python/triton_metal/*.h) $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(CFLAGS) $(WARN) -Wno-missing-field-initializers $(INC) -I$(PY_INC) -c $< -o $@

ext-from-objects: $(LIB_O) $(EXT_O)
	$(CC) -shared $(LIB_O) $(EXT_O) $(LDLIBS) -o $(EXT)

mutants:
	@$(PYTHON) tools/mutants/run.py $(if $(MUTANTS),--only $(MUTANTS))

.PHONY: ext-from-objects mutants
