# runpipe — build, test, install. `make help` lists the targets.
#
# Everything builds into build/ (the same layout as an install prefix):
#   build/bin/runpipe, build/lib/librunpipe.so, build/lib/runpipe/plugins/*.so
# Sources are found by wildcard: a new engine file, plugin folder or test
# needs no edit here.

PREFIX   ?= /usr/local
BUILD    ?= build
CC       ?= cc
# -march=native: runpipe is built where it runs (kernels use AVX2/AVX-512 when
# present). Set ARCH= for a portable build.
ARCH     ?= -march=native
OPT      ?= -O3
CPPFLAGS += -Iengine/include -Iengine -I/usr/include/stb -D_GNU_SOURCE -DRP_SRC_DIR='"$(CURDIR)"'
CFLAGS   += -std=c11 -Wall -Wextra -Werror $(OPT) $(ARCH) -g -fPIC -fopenmp \
            -fno-strict-aliasing -fno-math-errno -pthread $(SAN)
LDLIBS_CORE = -lyaml -lopenblas -lcjson -lcsv -lstb -ljpeg -lz -lm -ldl -pthread -fopenmp
VERSION  := 0.1.0

# engine/<subsystem>/[<sub>/]*.c; the binary is main.c + engine/cli/*.c (one
# file per command); engine/mpi/ is MPI support, built apart (below) only where
# mpicc exists.
ENGINE_SRC  := $(filter-out engine/cli/% engine/mpi/%,$(wildcard engine/*/*.c engine/*/*/*.c))
CLI_OBJ     := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard engine/cli/*.c))
ENGINE_OBJ  := $(ENGINE_SRC:%.c=$(BUILD)/obj/%.o)
PLUGINS     := $(notdir $(patsubst %/,%,$(dir $(wildcard plugins/*/*.c))))
PLUGINS     := $(sort $(PLUGINS))
PLUGIN_SOS  := $(PLUGINS:%=$(BUILD)/lib/runpipe/plugins/%.so)
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
PLUGIN_TESTS:= $(foreach p,$(PLUGINS),$(patsubst tests/plugins/$(p)/%.c,$(BUILD)/tests/$(p)_%,$(wildcard tests/plugins/$(p)/test_*.c)))
# Fuzz targets: tests/fuzz/T/fuzz.c (+ the objects of plugin FUZZ_PLUGIN_T).
FUZZ_TARGETS:= $(patsubst tests/fuzz/%/fuzz.c,%,$(wildcard tests/fuzz/*/fuzz.c))
FUZZ_TESTS  := $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz_%)
# Allocation-failure sweeps: tests/oom/test_X.c links the engine objects
# statically with the allocator wrapped (no librunpipe.so).
OOM_TESTS   := $(patsubst tests/oom/test_%.c,$(BUILD)/tests/oom_%,$(wildcard tests/oom/test_*.c))
TEST_BINS   := $(UNIT_TESTS) $(PLUGIN_TESTS) $(FUZZ_TESTS) $(OOM_TESTS)
LIB         := $(BUILD)/lib/librunpipe.so
# The same library with every symbol exported, for the unit tests (same
# soname: plugins a test loads bind to it).
TEST_LIB    := $(BUILD)/lib/test/librunpipe.so
BIN         := $(BUILD)/bin/runpipe
# MPI support: see comm_mpi.so below.
MPICC    ?= mpicc
HAVE_MPI := $(shell command -v $(MPICC) >/dev/null 2>&1 && echo 1)
COMM_MPI := $(if $(HAVE_MPI),$(BUILD)/lib/runpipe/comm_mpi.so)
RPATH_BIN   := -Wl,-rpath,'$$ORIGIN/../lib'
RPATH_TEST  := -Wl,-rpath,'$$ORIGIN/../lib/test'

.PHONY: all help deps test asan valgrind valgrind-run bench demo install clean format fuzz fuzz-run oom-full

all: $(BIN) $(LIB) $(PLUGIN_SOS) $(BUILD)/runpipe.pc $(COMM_MPI) ## build everything into build/

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# Schemas travel inside the shared objects (RP_SCHEMA, runpipe/plugin.h):
# librunpipe carries those of its built-ins (layers, archs, optimizers,
# schedulers) and of pipeline files; each plugin those of the stages and
# components its C files declare (engine/tools/schema-names.sh).
ENGINE_SCHEMAS := schemas/pipeline.yaml $(sort $(wildcard schemas/layer.*.yaml schemas/arch.*.yaml \
                  schemas/optimizer.*.yaml schemas/scheduler.*.yaml))
$(BUILD)/gen/engine_schemas.c: $(ENGINE_SCHEMAS) engine/tools/embed-schemas.sh
	@mkdir -p $(dir $@)
	sh engine/tools/embed-schemas.sh $@ $(ENGINE_SCHEMAS)
$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
$(BUILD)/obj/gen/plugins/%.o: CFLAGS += -fvisibility=hidden
LIB_OBJ := $(ENGINE_OBJ) $(BUILD)/obj/gen/engine_schemas.o

# The SDK boundary: librunpipe.so exports the public headers' symbols
# (version RUNPIPE_1) and what the runpipe program calls (RUNPIPE_PRIVATE);
# the rest is local (engine/tools/exports.sh).
$(BUILD)/librunpipe.map: $(LIB_OBJ) $(BUILD)/obj/engine/main.o $(CLI_OBJ) engine/tools/exports.sh $(wildcard engine/include/runpipe/*.h)
	sh engine/tools/exports.sh $(LIB_OBJ) -- $(BUILD)/obj/engine/main.o $(CLI_OBJ) >$@
$(BUILD)/librunpipe-all.map: $(LIB_OBJ) engine/tools/exports.sh $(wildcard engine/include/runpipe/*.h)
	sh engine/tools/exports.sh --all $(LIB_OBJ) >$@

$(LIB): $(LIB_OBJ) $(BUILD)/librunpipe.map
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -Wl,-soname,librunpipe.so -Wl,--version-script=$(BUILD)/librunpipe.map \
	    -o $@ $(LIB_OBJ) $(LDLIBS_CORE)

$(TEST_LIB): $(LIB_OBJ) $(BUILD)/librunpipe-all.map
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -Wl,-soname,librunpipe.so -Wl,--version-script=$(BUILD)/librunpipe-all.map \
	    -o $@ $(LIB_OBJ) $(LDLIBS_CORE)

$(BIN): $(BUILD)/obj/engine/main.o $(CLI_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(filter %.o,$^) -L$(BUILD)/lib -lrunpipe $(RPATH_BIN) $(LDLIBS_CORE)

# MPI support (runpipe/comm.h): comm_mpi.so, dlopened by librunpipe only when
# runpipe is started by mpirun / srun; nothing else links libmpi. Built when
# mpicc is on PATH (`make deps` installs Open MPI), else left out.
$(BUILD)/lib/runpipe/comm_mpi.so: engine/mpi/comm_mpi.c engine/include/runpipe/comm.h $(LIB)
	@mkdir -p $(dir $@)
	OMPI_CC=$(CC) $(MPICC) $(CPPFLAGS) $(CFLAGS) -fvisibility=hidden -shared -o $@ $< \
	    -L$(BUILD)/lib -lrunpipe -Wl,-rpath,'$$ORIGIN/..'

# One shared object per plugin folder.
.SECONDEXPANSION:
# Keep plugin and test objects (they are built through pattern rules).
.SECONDARY:
$(BUILD)/gen/plugins/%_schemas.c: $$(wildcard plugins/$$*/*.c) $(wildcard schemas/*.yaml) \
                                  engine/tools/embed-schemas.sh engine/tools/schema-names.sh
	@mkdir -p $(dir $@)
	sh engine/tools/embed-schemas.sh $@ $$(sh engine/tools/schema-names.sh plugins/$* schemas)

# Plugin objects keep their internals to themselves: only rp_plugin_entry
# (RP_PLUGIN) is exported. -z defs: every symbol resolved at link time (not
# with clang's sanitizers, whose runtime only the executable links).
PLUGIN_DEFS ?= -Wl,-z,defs
$(BUILD)/obj/plugins/%.o: CFLAGS += -fvisibility=hidden
$(BUILD)/lib/runpipe/plugins/%.so: $$(addprefix $(BUILD)/obj/,$$(subst .c,.o,$$(wildcard plugins/$$*/*.c))) \
                                   $(BUILD)/obj/gen/plugins/%_schemas.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared $(PLUGIN_DEFS) -o $@ $(filter %.o,$^) -L$(BUILD)/lib -lrunpipe \
	    -Wl,-rpath,'$$ORIGIN/../..' $(LDLIBS_CORE)

# Unit tests: tests/unit/test_X.c links librunpipe with its internals.
$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(TEST_LIB) $(BUILD)/obj/tests/harness.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/obj/tests/harness.o -L$(BUILD)/lib/test -lrunpipe \
	    $(RPATH_TEST) -lcmocka $(LDLIBS_CORE)

# Plugin tests: tests/plugins/P/test_X.c also links P's objects (internals).
$(BUILD)/tests/%: $$(BUILD)/obj/tests/plugins/$$(subst _test_,/test_,$$*).o \
                  $$(addprefix $(BUILD)/obj/,$$(subst .c,.o,$$(wildcard plugins/$$(firstword $$(subst _test_, ,$$*))/*.c))) \
                  $(TEST_LIB) $(BUILD)/obj/tests/harness.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(filter %.o,$^) -L$(BUILD)/lib/test -lrunpipe \
	    $(RPATH_TEST) -lcmocka $(LDLIBS_CORE)

# Allocation-failure sweeps (tests/oom): the engine linked statically with the
# allocator wrapped (tests/oom/sweep.c) and exported (-rdynamic); next to the
# binaries, tests/runpipe/plugins/ holds every plugin linked with the same
# --wrap and without librunpipe, so the plugins a sweep loads bind to the
# binary's engine and wrappers (found first: the engine's directory's plugins).
OOM_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=posix_memalign,--wrap=strdup,--wrap=strndup
OOM_PLUGIN_SOS := $(PLUGINS:%=$(BUILD)/tests/runpipe/plugins/%.so)
$(BUILD)/tests/oom_%: $(BUILD)/obj/tests/oom/test_%.o $(BUILD)/obj/tests/oom/sweep.o $(LIB_OBJ) \
                      $(BUILD)/obj/tests/harness.o | $(OOM_PLUGIN_SOS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -rdynamic -o $@ $(filter %.o,$^) $(OOM_WRAP) -lcmocka $(LDLIBS_CORE)
$(BUILD)/tests/runpipe/plugins/%.so: $$(addprefix $(BUILD)/obj/,$$(subst .c,.o,$$(wildcard plugins/$$*/*.c))) \
                                     $(BUILD)/obj/gen/plugins/%_schemas.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -o $@ $(filter %.o,$^) $(OOM_WRAP) $(LDLIBS_CORE)
oom-full: $(OOM_TESTS) ## the allocation-failure sweeps over every allocation (make test samples some)
	@for t in $(OOM_TESTS); do echo "== $$t"; RP_OOM_FULL=1 $$t || exit 1; done

# Fuzz targets. `make test` runs each committed corpus once through
# tests/fuzz/driver.c (normal compiler); `make fuzz` builds everything with
# clang + libFuzzer + ASan/UBSan into build-fuzz/ and fuzzes each target for
# FUZZ_SECONDS, new inputs kept in build-fuzz/fuzz/T.corpus (not committed).
# AVX2 build: the readers do not use the AVX-512 kernels, whose instrumented
# build takes clang most of an hour.
FUZZ_PLUGIN_idx := datasets
FUZZ_PLUGIN_cifar := datasets
FUZZ_PLUGIN_csv := datasets
FUZZ_PLUGIN_segmentation := datasets
FUZZ_PLUGIN_checkpoint := train
FUZZ_PLUGIN_openimages := openimages
fuzz_objs = $(BUILD)/obj/tests/fuzz/$(1)/fuzz.o $(BUILD)/obj/tests/fuzz/common.o \
            $(addprefix $(BUILD)/obj/,$(subst .c,.o,$(wildcard plugins/$(FUZZ_PLUGIN_$(1))/*.c)))
$(BUILD)/obj/tests/fuzz/driver_%.o: tests/fuzz/driver.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -DFUZZ_TARGET='"$*"' -MMD -MP -c $< -o $@
$(BUILD)/tests/fuzz_%: $$(call fuzz_objs,$$*) $(BUILD)/obj/tests/fuzz/driver_%.o $(TEST_LIB) $(BUILD)/obj/tests/harness.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(filter %.o,$^) -L$(BUILD)/lib/test -lrunpipe $(RPATH_TEST) -lcmocka $(LDLIBS_CORE)
$(BUILD)/tests/fuzz_pipeline: | $(PLUGIN_SOS)
$(BUILD)/obj/tests/fuzz/common.o: CPPFLAGS += $(if $(FUZZ_LINK),-DRP_LIBFUZZER)
$(BUILD)/fuzz/%: $$(call fuzz_objs,$$*) $(TEST_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FUZZ_LINK) -o $@ $(filter %.o,$^) -L$(BUILD)/lib/test -lrunpipe $(RPATH_TEST) $(LDLIBS_CORE)

FUZZ_SECONDS ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
            -Wno-pass-failed
fuzz: ## libFuzzer (clang, ASan+UBSan) on every reader for FUZZ_SECONDS each, into build-fuzz/
	@command -v clang >/dev/null || { echo "make fuzz needs clang (apt install clang)"; exit 2; }
	$(MAKE) BUILD=build-fuzz CC=clang OPT=-O1 ARCH="-mavx2 -mfma" SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
	    FUZZ_LINK=-fsanitize=fuzzer PLUGIN_DEFS= fuzz-run
fuzz-run: all $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(BUILD)/fuzz/$$t.corpus $(BUILD)/fuzz/$$t.crashes; \
	    echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
	    ASAN_OPTIONS=detect_leaks=1 OMP_WAIT_POLICY=passive OMP_NUM_THREADS=1 nice $(BUILD)/fuzz/$$t \
	        -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=20 -rss_limit_mb=2560 \
	        -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/$$t.crashes/ \
	        $(BUILD)/fuzz/$$t.corpus tests/fuzz/$$t/corpus 2>&1 | tee $(BUILD)/fuzz/$$t.log \
	        | grep -E '^(#[0-9]+.*(INITED|DONE)|stat::|==[0-9]+==ERROR|SUMMARY|artifact_prefix)' ; \
	done; \
	if ls $(BUILD)/fuzz/*.crashes/* >/dev/null 2>&1; then \
	    echo "inputs that crashed (make each a fixture in tests/fuzz/T/crashes, then delete it):"; \
	    ls $(BUILD)/fuzz/*.crashes/*; exit 1; fi

# Deliberately broken (and one good) plugins for the engine tests:
# tests/fixtures/plugins/X.c -> build/tests/plugins/X.so, built before tests run.
FIXTURE_PLUGINS := $(patsubst tests/fixtures/plugins/%.c,$(BUILD)/tests/plugins/%.so,$(wildcard tests/fixtures/plugins/*.c))
$(BUILD)/tests/plugins/%.so: tests/fixtures/plugins/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -shared -o $@ $< -L$(BUILD)/lib -lrunpipe -Wl,-rpath,'$$ORIGIN/../../lib'
test: $(FIXTURE_PLUGINS)
$(BUILD)/obj/tests/%.o: CPPFLAGS += -Itests
$(BUILD)/tests/test_abi $(BUILD)/tests/test_plugin_loader $(BUILD)/tests/test_pipeline $(BUILD)/tests/test_rundir: | $(FIXTURE_PLUGINS)

# runpipe.pc is relocatable: the prefix is found from where the file lies
# (<prefix>/lib/pkgconfig), so an installed tree can be moved or packaged
# (make install DESTDIR=...) without rewriting it.
$(BUILD)/runpipe.pc: Makefile
	@mkdir -p $(dir $@)
	@printf 'prefix=$${pcfiledir}/../..\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\nplugindir=$${libdir}/runpipe/plugins\nschemadir=$${prefix}/share/runpipe/schemas\nembedschemas=$${prefix}/share/runpipe/embed-schemas.sh\n\nName: runpipe\nDescription: declarative deep-learning image pipelines (plugin API)\nVersion: %s\nCflags: -I$${includedir}\nLibs: -L$${libdir} -lrunpipe\n' \
	    '$(VERSION)' > $@

test: all $(TEST_BINS) ## build and run every test; ends with "N passed, N failed"
	@RUNPIPE_BUILD=$(BUILD) bash tests/run.sh $(TEST_BINS)

asan: ## build and test with AddressSanitizer + UBSan into build-asan/
	$(MAKE) BUILD=build-asan OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

valgrind: ## unit tests under valgrind (AVX2 build in build-vg/: valgrind cannot run AVX-512)
	$(MAKE) BUILD=build-vg OPT=-O1 ARCH="-mavx2 -mfma" valgrind-run

valgrind-run: all $(TEST_BINS)
	@RUNPIPE_BUILD=$(BUILD) RP_VALGRIND=1 bash tests/run.sh $(TEST_BINS)

# Benchmark programs: tests/bench/bench_X.c -> $(BUILD)/bench/bench_X (links librunpipe).
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/bench_*.c))
$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(TEST_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -L$(BUILD)/lib/test -lrunpipe $(RPATH_TEST) $(LDLIBS_CORE)

bench: all $(BENCH_BINS) ## speed benchmarks (runpipe vs PyTorch side by side)
	@RUNPIPE_BUILD=$(BUILD) bash tests/bench/run.sh

demo: ## install what is missing, build, run the quick-start pipeline
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory -j2 all
	$(BIN) pipelines/quickstart.yaml

DEB_PKGS := build-essential pkg-config libyaml-dev libopenblas-dev libstb-dev libcsv-dev \
            libcmocka-dev libcjson-dev libjpeg-dev zlib1g-dev dataset-fashion-mnist \
            libopenmpi-dev openmpi-bin
deps: ## install the Debian packages runpipe needs (idempotent; root or sudo)
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	    | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "deps: all present"; fi

install: all ## install into PREFIX (default /usr/local)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/runpipe/plugins \
	    $(DESTDIR)$(PREFIX)/include/runpipe $(DESTDIR)$(PREFIX)/share/runpipe/schemas \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(PLUGIN_SOS) $(DESTDIR)$(PREFIX)/lib/runpipe/plugins/
	$(if $(COMM_MPI),install -m 755 $(COMM_MPI) $(DESTDIR)$(PREFIX)/lib/runpipe/)
	install -m 644 engine/include/runpipe/*.h $(DESTDIR)$(PREFIX)/include/runpipe/
	install -m 644 schemas/*.yaml $(DESTDIR)$(PREFIX)/share/runpipe/schemas/
	install -m 755 engine/tools/embed-schemas.sh $(DESTDIR)$(PREFIX)/share/runpipe/
	install -m 644 $(BUILD)/runpipe.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

format: ## clang-format every C file
	clang-format -i engine/*.c $$(find engine -name '*.[ch]') plugins/*/*.c plugins/*/*.h tests/*/*.c 2>/dev/null || true

clean: ## remove build outputs
	rm -rf build build-asan build-vg build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
