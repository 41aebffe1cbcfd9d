# dpkit build: libdpkit (static + shared), the dpkit program, tests, benchmarks.
# Every dependency comes from pkg-config; `scripts/setup-deps` installs the Debian packages.

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
VERSION := 0.1.0

PKGS := openblas fftw3 fftw3f hdf5 gsl yaml-0.1 zlib libpng libsodium
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# GSL's reference CBLAS is dropped: OpenBLAS provides the same symbols, fast.
PKG_LIBS   := $(filter-out -lgslcblas,$(shell pkg-config --libs $(PKGS) 2>/dev/null))

# MPI is optional (docs/mpi.md): with OpenMPI's ompi-c (or an `mpi` module) the dpkit program's
# MPI backend (mpi/, DPKIT_MPI) runs data-parallel training and distributed sweeps under mpirun;
# without it, one process as before. MPI=0 builds without it even where it is installed. The
# library never links MPI.
ifeq ($(origin MPI),undefined)
MPI := $(shell pkg-config --exists ompi-c 2>/dev/null && echo ompi-c || \
         (pkg-config --exists mpi 2>/dev/null && echo mpi) || echo 0)
endif
ifneq ($(MPI),0)
MPI_CFLAGS := $(shell pkg-config --cflags $(MPI)) -DDPKIT_MPI
MPI_LIBS   := $(shell pkg-config --libs $(MPI))
endif

WERROR ?=
# CFLAGS/LDFLAGS are the user's (optimisation, sanitizers); the project's flags are added here.
CFLAGS ?= -O2 -g
ALL_CFLAGS := $(CFLAGS) -std=c17 -D_GNU_SOURCE -Wall -Wextra $(WERROR) -fopenmp -fPIC -I. $(PKG_CFLAGS) \
          -DDPKIT_VERSION='"$(VERSION)"'
LDFLAGS ?=
LDLIBS  := $(PKG_LIBS) -lfftw3f_omp -lfftw3_omp -fopenmp -lm

MODULES  := common datasets accountant scatter features dp audit robust
LIB_SRC  := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_SRC  := $(wildcard cli/*.c)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_SRC := $(filter-out bench/machine_limits.c,$(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
HEADERS  := dpkit.h $(foreach m,$(MODULES),$(wildcard $(m)/*.h)) $(wildcard mpi/*.h)
MPI_OBJ  := $(BUILD)/mpi/parallel_mpi.o
.PHONY: dpkit.pc all check-deps test python test-asan fuzz demo bench data install clean deps reproduce reproduce-linear reproduce-cnn reproduce-curves reproduce-grid reproduce-audits reproduce-robustness

all: $(BUILD)/libdpkit.a $(BUILD)/libdpkit.so $(BUILD)/dpkit

# Library objects export nothing unless marked DPKIT_API (dpkit.h): one dpkit_ namespace.
LIB_CFLAGS := -fvisibility=hidden

$(LIB_OBJ): $(BUILD)/%.o: %.c $(HEADERS) | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIB_CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.c $(HEADERS) | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# Stops with the list of missing Debian packages before any compiler error can.
check-deps:
	@scripts/check-deps

$(BUILD)/libdpkit.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
$(BUILD)/libdpkit.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libdpkit.so.$(SOMAJOR) -o $@.$(VERSION) $^ $(LDFLAGS) $(LDLIBS)
	ln -sf libdpkit.so.$(VERSION) $(BUILD)/libdpkit.so.$(SOMAJOR)
	ln -sf libdpkit.so.$(VERSION) $@

$(MPI_OBJ): ALL_CFLAGS += $(MPI_CFLAGS)
# The secure Gaussian sampler's sqrt vectorises only without errno (gcc takes no per-function
# -fno-math-errno); its argument is never negative, so errno would never be set.
$(BUILD)/common/rng_gaussian.o: ALL_CFLAGS += -fno-math-errno

$(BUILD)/dpkit: $(CLI_OBJ) $(MPI_OBJ) $(BUILD)/libdpkit.a
	$(CC) -o $@ $(CLI_OBJ) $(MPI_OBJ) $(BUILD)/libdpkit.a $(LDFLAGS) $(LDLIBS) $(MPI_LIBS)

# The MPI tests run when the dpkit program has the MPI backend.
$(BUILD)/tests/test_util.o: ALL_CFLAGS += $(if $(MPI_LIBS),-DDPKIT_MPI)

$(BUILD)/tests/run-tests: $(TEST_OBJ) $(BUILD)/libdpkit.a
	$(CC) -o $@ $(TEST_OBJ) $(BUILD)/libdpkit.a $(LDFLAGS) $(LDLIBS) $(shell pkg-config --libs criterion)

# bench/train-cnn times the library's BLAS calls by wrapping them at link time.
$(BUILD)/bench/train-cnn $(BUILD)/bench-ref/train-cnn: BENCH_LDFLAGS = -Wl,--wrap=cblas_sgemm,--wrap=cblas_ssyrk,--wrap=cblas_sgemv
# bench/mpi-model times the step's MPI_Allreduce under mpirun: the program's MPI backend.
$(BUILD)/bench/mpi-model: $(MPI_OBJ)
$(BUILD)/bench/mpi-model: BENCH_LDFLAGS = $(MPI_OBJ) $(MPI_LIBS)

# Every bench measures the machine's limits first (bench/machine_limits.c).
BENCH_LIMITS := $(BUILD)/bench/machine_limits.o
$(BUILD)/bench/%: bench/%.c $(BENCH_LIMITS) bench/machine_limits.h $(BUILD)/libdpkit.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BENCH_LIMITS) $(BUILD)/libdpkit.a $(LDFLAGS) $(BENCH_LDFLAGS) $(LDLIBS)

# The same bench source against an earlier revision's headers and library, unpacked and built
# in REF_DIR by scripts/bench-against (old and new engine measured in one run).
$(BUILD)/bench-ref/%: bench/%.c $(BENCH_LIMITS) $(REF_DIR)/build/libdpkit.a
	@mkdir -p $(dir $@)
	$(CC) -I$(REF_DIR) $(ALL_CFLAGS) -o $@ $< $(BENCH_LIMITS) $(REF_DIR)/build/libdpkit.a $(LDFLAGS) \
	  $(BENCH_LDFLAGS) $(LDLIBS)

deps:
	@scripts/setup-deps

# Tests need the data the test suite reads (MNIST, Fashion-MNIST, the text corpus); CIFAR-10 is
# fetched by `make data` (its tests skip when it is absent).
TEST_DATA ?= mnist fashion-mnist sotu cifar10
test: deps
	@$(MAKE) --no-print-directory all $(BUILD)/tests/run-tests
	@for d in $(TEST_DATA); do $(BUILD)/dpkit -q data fetch $$d || exit 1; done
	@rm -rf $(BUILD)/test-tmp && mkdir -p $(BUILD)/test-tmp
	TMPDIR=$(CURDIR)/$(BUILD)/test-tmp DPKIT_BIN=$(BUILD)/dpkit $(BUILD)/tests/run-tests --jobs 2
	TMPDIR=$(CURDIR)/$(BUILD)/test-tmp BUILD=$(BUILD) scripts/check-library
	TMPDIR=$(CURDIR)/$(BUILD)/test-tmp BUILD=$(BUILD) PYTHON=$(PYTHON) scripts/check-readme
	@$(MAKE) --no-print-directory python

# The Python package (python/, docs/python.md): its tests against this build's library, with
# the Debian python3-* packages `make deps` installs (hence the system interpreter).
PYTHON ?= /usr/bin/python3
python: $(BUILD)/libdpkit.so $(BUILD)/dpkit
	@mkdir -p $(BUILD)/test-tmp
	TMPDIR=$(CURDIR)/$(BUILD)/test-tmp DPKIT_LIBRARY=$(CURDIR)/$(BUILD)/libdpkit.so DPKIT_BIN=$(BUILD)/dpkit \
	  PYTHONPATH=$(CURDIR)/python PYTHONDONTWRITEBYTECODE=1 $(PYTHON) -m pytest -q -p no:cacheprovider python/tests

# Table 1's ScatterNet + linear rows (3 datasets x 3 seeds x 2 accountants; about an hour on 2 cores).
reproduce-linear: deps all
	@MODEL=scatter-linear scripts/reproduce-table

# Table 1's CNN rows: ScatterNet + CNN and end-to-end CNNs, RDP accountant (many hours on 2
# cores, CIFAR-10 most of it; DATASETS=... SEEDS=... select a part).
reproduce-cnn: deps all
	@for m in scatter-cnn cnn; do MODEL=$$m ACCOUNTANTS=$${ACCOUNTANTS:-rdp} scripts/reproduce-table || exit 1; done

# Accuracy-against-epsilon curves (configs/curves/*.yaml; 15 runs per dataset and line).
reproduce-curves: deps all
	@scripts/reproduce-curves

# The accuracy grid: epsilon 1, 2, 3, 4, 8 x MNIST, Fashion-MNIST, CIFAR-10 x 3 seeds
# (configs/grid/), tables, CSV and figures in docs/results/grid/ with the wall time of each.
reproduce-grid: deps all
	@DEST=docs/results/grid scripts/reproduce-curves configs/grid/*.yaml

# Dirac-canary audits: 5 repetitions with secret noise and every injected fault (about 30 min).
reproduce-audits: deps all
	@scripts/reproduce-audits
	@scripts/reproduce-audits-tight

# Privacy x robustness on MNIST (configs/robustness-mnist.yaml): trains 10 models, then attacks
# them (EPOCHS_CNN=... EPOCHS_LINEAR=... shorten the schedules).
reproduce-robustness: deps all
	@scripts/reproduce-robustness

reproduce: reproduce-linear reproduce-cnn reproduce-curves

test-asan:
	@$(MAKE) --no-print-directory BUILD=build-asan \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
	    -Wno-pass-failed" \
	  LDFLAGS="-fsanitize=address,undefined" all build-asan/tests/run-tests
	@rm -rf build-asan/test-tmp && mkdir -p build-asan/test-tmp
	TMPDIR=$(CURDIR)/build-asan/test-tmp ASAN_OPTIONS=detect_leaks=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan-criterion.supp DPKIT_BIN=build-asan/dpkit \
	  build-asan/tests/run-tests --jobs 2

# libFuzzer harnesses over the file loaders (tests/fuzz/README.md): the library built with clang,
# ASan and UBSan into build-fuzz/, each harness run FUZZ_SECONDS from its committed corpus.
FUZZ_SECONDS ?= 60
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build-fuzz/tests/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
	  CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
	    -Wno-pass-failed" \
	  LDFLAGS="-fsanitize=fuzzer,address,undefined -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign" \
	  $(FUZZ_BIN)
	tests/fuzz/run-all $(FUZZ_SECONDS) $(FUZZ_BIN)

$(BUILD)/tests/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_common.h $(BUILD)/libdpkit.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libdpkit.a $(LDFLAGS) $(LDLIBS)

demo: deps all
	@scripts/demo

bench: all $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

data: all
	$(BUILD)/dpkit data fetch all

# Static linking needs the libraries' own static dependencies (Requires.private), OpenMP, and
# the szip filter that hdf5.pc omits (libaec, installed with libhdf5-dev).
dpkit.pc: Makefile
	@printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: dpkit\nDescription: differentially private learning on handcrafted features\nVersion: %s\nRequires.private: %s\nCflags: -I$${includedir}\nLibs: -L$${libdir} -ldpkit\nLibs.private: -lfftw3f_omp -lfftw3_omp -fopenmp -lhdf5 -lsz -laec -lm\n' \
	  '$(PREFIX)' '$(VERSION)' '$(PKGS)' > $@

# The library (static, shared with its SONAME links), the one public header, the program, the
# configs (share/dpkit/configs) and the manual page.
install: all dpkit.pc
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/dpkit
	install -m 755 $(BUILD)/dpkit $(DESTDIR)$(PREFIX)/bin/dpkit
	install -m 644 $(BUILD)/libdpkit.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libdpkit.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libdpkit.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libdpkit.so.$(SOMAJOR)
	ln -sf libdpkit.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libdpkit.so
	install -m 644 dpkit.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 644 dpkit.h $(DESTDIR)$(PREFIX)/include/dpkit.h
	install -m 644 docs/dpkit.1 $(DESTDIR)$(PREFIX)/share/man/man1/dpkit.1
	cp -r configs $(DESTDIR)$(PREFIX)/share/dpkit/

clean:
	rm -rf $(BUILD) build-asan build-fuzz dpkit.pc
