# biofeed build. `make` builds the libraries, the `biofeed` command and the
# tests; `make test` runs them; `make demo` packs and inspects sample data.
# CUDA kernels are built when nvcc is found (or CUDA=1); CUDA=0 forces the
# CPU-only library. WERROR=1 turns warnings into errors (CI does this).

.DEFAULT_GOAL := all

BUILD    ?= build
PREFIX   ?= /usr/local
CC       ?= gcc
WERROR   ?= 0
NVCC     ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
CUDA     ?= $(if $(NVCC),1,0)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
# loader/dist: the mpi backend when pkg-config knows Open MPI (ompi-c), the
# nccl backend when CUDA is on and nccl.h is found. The sanitized library
# never has the nccl backend: its CUDA is the emulator.
MPI      ?= $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1 || echo 0)
NCCL_H   := $(firstword $(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h /usr/local/include/nccl.h))
NCCL     ?= $(if $(and $(filter 1,$(CUDA)),$(NCCL_H)),1,0)
MPI_CFLAGS := $(if $(filter 1,$(MPI)),$(shell pkg-config --cflags ompi-c))
MPI_LIBS   := $(if $(filter 1,$(MPI)),$(shell pkg-config --libs ompi-c))
PYTHON   ?= python3

# Generated once per machine: runs the dependency installer, then records the
# flags pkg-config gives. make re-reads itself after (re)making it.
CONFIG_MK := $(BUILD)/config.mk
PKGS := hdf5 htslib libtiff-4 libpng liburing libdeflate libisal libxxhash libsodium yaml-0.1 libcjson zlib
include $(CONFIG_MK)
$(CONFIG_MK): scripts/install-deps.sh Makefile
	@mkdir -p $(@D)
	@scripts/install-deps.sh
	@{ echo "PKG_CFLAGS := $$(pkg-config --cflags $(PKGS))"; \
	   echo "PKG_LIBS := $$(pkg-config --libs $(PKGS)) -lniftiio -lznz -lm -lpthread"; } > $@.tmp && mv $@.tmp $@

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter $(if $(filter 1,$(WERROR)),-Werror)
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Iloader -Ikernels -I/usr/include/nifti $(PKG_CFLAGS) -DBFD_CUDA=$(CUDA)
CPPFLAGS += -DBFD_MPI=$(MPI) $(MPI_CFLAGS) -DBFD_NCCL=$(NCCL) $(if $(filter 1,$(NCCL)),-isystem $(dir $(NCCL_H)) -isystem $(CUDA_HOME)/include)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -fPIC -fvisibility=hidden -ffp-contract=off -fopenmp $(WARN)
LDLIBS  := $(PKG_LIBS) -fopenmp $(MPI_LIBS) $(if $(filter 1,$(NCCL)),-L$(CUDA_HOME)/lib64 -lnccl)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# The sanitized (test) library always has the CUDA backend, on the emulator.
SAN_CPPFLAGS = $(filter-out -DBFD_CUDA=% -DBFD_NCCL=%,$(CPPFLAGS)) -DBFD_CUDA=1 -DBFD_NCCL=0

LIB_SRC := $(wildcard loader/core/*.c loader/format/*.c loader/ingest/*.c loader/io/*.c loader/ops/*.c loader/plan/*.c loader/config/*.c loader/pipeline/*.c loader/api/*.c loader/pack/*.c loader/dist/*.c kernels/cpu/*.c)
CLI_SRC := $(wildcard loader/cli/*.c)
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_SUPPORT := $(wildcard tests/unit/support/*.c)
TEST_SUPPORT_CU := $(wildcard tests/unit/support/*.cu)

# Test builds run the CUDA kernels on the CPU: every kernels/cuda/*.cu is
# compiled by g++ against the emulator (kernels/emu) into the sanitized
# library, whether or not nvcc exists. The stubs are for CUDA=0 builds only.
CXX     ?= g++
CU_ALL  := $(wildcard kernels/cuda/*.cu)
STUB_SRC := $(wildcard kernels/cuda/*_stub.c)
EMU_SRC := $(wildcard kernels/emu/*.cc)
EMUFLAGS := -x c++ -std=c++17 -Ikernels/emu/include -include kernels/emu/cuda_emu.h

ifeq ($(CUDA),1)
CU_SRC  := $(CU_ALL)
NVFLAGS := -O2 -std=c++17 -fmad=false -Xcompiler -fPIC,-fvisibility=hidden -Iinclude -Iloader -Ikernels \
           -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
           -gencode arch=compute_90,code=compute_90
LDLIBS  += -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lstdc++
else
CU_SRC  :=
endif

OBJ      := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(if $(filter 1,$(CUDA)),$(CU_SRC:%.cu=$(BUILD)/obj/%.cu.o),$(STUB_SRC:%.c=$(BUILD)/obj/%.o))
SAN_OBJ  := $(LIB_SRC:%.c=$(BUILD)/san/%.o) $(CU_ALL:%.cu=$(BUILD)/san/%.emu.o) $(EMU_SRC:%.cc=$(BUILD)/san/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SAN_OBJ := $(CLI_SRC:%.c=$(BUILD)/san/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TEST_SUPPORT_OBJ := $(TEST_SUPPORT:%.c=$(BUILD)/san/%.o) $(TEST_SUPPORT_CU:%.cu=$(BUILD)/san/%.emu.o)

LIB_A   := $(BUILD)/lib/libbiofeed.a
LIB_SO  := $(BUILD)/lib/libbiofeed.so
SAN_A   := $(BUILD)/san/libbiofeed.a
BIN     := $(BUILD)/bin/biofeed
SAN_BIN := $(BUILD)/tests/biofeed

.PHONY: all lib test demo bench install clean sample-data venv
# Test objects are intermediates of their binaries: keep them so a rebuild recompiles only what changed.
.SECONDARY:
all: $(LIB_A) $(LIB_SO) $(BIN) $(TEST_BIN) $(SAN_BIN)
lib: $(LIB_A) $(LIB_SO)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/san/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(SAN_CPPFLAGS) $(CFLAGS) $(SANFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/obj/%.cu.o: %.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/san/%.emu.o: %.cu
	@mkdir -p $(@D)
	$(CXX) $(EMUFLAGS) $(SAN_CPPFLAGS) -O1 -g -fPIC -ffp-contract=off $(WARN:-Wstrict-prototypes=) $(SANFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/san/%.o: %.cc
	@mkdir -p $(@D)
	$(CXX) -std=c++17 $(SAN_CPPFLAGS) -O1 -g -fPIC -ffp-contract=off $(WARN:-Wstrict-prototypes=) $(SANFLAGS) -MMD -MP -c $< -o $@

# biofeed-link.txt: what a static consumer (the Python module) links besides it.
$(LIB_A): $(OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
	echo '$(LDLIBS)' > $(@D)/biofeed-link.txt
$(SAN_A): $(SAN_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
$(LIB_SO): $(OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libbiofeed.so.$(firstword $(subst ., ,$(VERSION))) -o $@ $^ $(LDLIBS)
$(BIN): $(CLI_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS)
$(SAN_BIN): $(CLI_SAN_OBJ) $(SAN_A)
	@mkdir -p $(@D)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS) -lstdc++
$(BUILD)/tests/%: $(BUILD)/san/tests/unit/%.o $(TEST_SUPPORT_OBJ) $(SAN_A)
	@mkdir -p $(@D)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS) -lcmocka -lstdc++

VERSION := $(shell sed -n 's/^\#define BFD_VERSION_STRING "\(.*\)"/\1/p' include/biofeed/biofeed.h)

# Python tests get h5py, numpy and pytest from a venv of their own.
VENV := $(BUILD)/venv
$(VENV)/.ok: tests/python/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r tests/python/requirements.txt
	touch $@
venv: $(VENV)/.ok

sample-data:
	scripts/fetch-sample-data.sh $(BUILD)/data

# Real-data tests skip (and say so) when the sample archives can't be fetched.
test: all $(VENV)/.ok sample-data
	BUILD=$(BUILD) scripts/run-tests.sh

demo: $(BIN)
	BUILD=$(BUILD) scripts/demo.sh

# CPU benchmarks beside torch's DataLoader (bench/README.md).
bench: $(LIB_A) $(BIN)
	BUILD=$(BUILD) bench/e2e/run.sh

install: $(LIB_A) $(LIB_SO) $(BIN)
	install -d $(DESTDIR)$(PREFIX)/include/biofeed $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/biofeed/*.h $(DESTDIR)$(PREFIX)/include/biofeed/
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libbiofeed.so.$(VERSION)
	ln -sf libbiofeed.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libbiofeed.so.$(firstword $(subst ., ,$(VERSION)))
	ln -sf libbiofeed.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libbiofeed.so
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@PRIVATE_LIBS@|$(LDLIBS)|' scripts/biofeed.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/biofeed.pc

clean:
	rm -rf $(BUILD)/obj $(BUILD)/san $(BUILD)/lib $(BUILD)/bin $(BUILD)/tests $(BUILD)/config.mk $(BUILD)/libfuzzer $(BUILD)/tsan

-include $(OBJ:.o=.d) $(SAN_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(CLI_SAN_OBJ:.o=.d) $(TEST_SUPPORT_OBJ:.o=.d) \
  $(TEST_SRC:tests/unit/%.c=$(BUILD)/san/tests/unit/%.d)

# libFuzzer harnesses: make fuzz, make fuzz-regress (tests/fuzz/fuzz.mk).
-include tests/fuzz/fuzz.mk

# make test-asan: the C tests under ASan + UBSan, as make test runs them.
# make test-tsan: the threaded tests under ThreadSanitizer (tests/tsan.mk).
.PHONY: test-asan
test-asan: test
-include tests/tsan.mk
