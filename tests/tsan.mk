# ThreadSanitizer run (issue 9), included by the top-level Makefile after it
# defines LIB_SRC, CU_ALL, EMU_SRC, SAN_CPPFLAGS, WARN, PKG_LIBS and MPI_LIBS.
#
#   make test-tsan    builds the library and the threaded tests (pipeline,
#                     loader, io engine, dist comm) with -fsanitize=thread
#                     into $(BUILD)/tsan/ and runs them; any report fails it
#
# Built with clang and LLVM's libomp, not gcc: libgomp is not instrumented,
# so TSan cannot see its barriers and would report every OpenMP team's
# writes as races. libomp tells TSan about them through its Archer tool (libarcher.so, from
# libomp-dev), which OMP_TOOL_LIBRARIES loads at run time. Like the ASan
# build it has the CUDA backend on the emulator (kernels/emu), whose
# coroutines (swapcontext) all run on the launching thread: TSan sees a
# block's threads as one, so races between a kernel's threads are outside
# what this run finds; races between the pipeline's threads around the
# kernels are not.

TSAN_CC      ?= clang
TSAN_CXX     ?= clang++
TSAN_DIR     := $(BUILD)/tsan
TSAN_TESTS   := test_io_engine test_io_read test_loader test_loader_life test_loader_repro test_loader_faults \
                test_soak test_dist_comm
TSAN_FLAGS   := -fsanitize=thread -fno-omit-frame-pointer -O1 -g
TSAN_CFLAGS  := -std=c11 -fPIC -ffp-contract=off -fopenmp $(WARN) -Wno-pass-failed $(TSAN_FLAGS)
TSAN_CXXFLAGS := $(EMUFLAGS) -fPIC -ffp-contract=off $(WARN:-Wstrict-prototypes=) $(TSAN_FLAGS)
TSAN_OBJ     := $(LIB_SRC:%.c=$(TSAN_DIR)/%.o) $(CU_ALL:%.cu=$(TSAN_DIR)/%.emu.o) $(EMU_SRC:%.cc=$(TSAN_DIR)/%.o)
TSAN_LIB     := $(TSAN_DIR)/libbiofeed.a
TSAN_BIN     := $(TSAN_TESTS:%=$(TSAN_DIR)/tests/%)
TSAN_SUPPORT := $(TEST_SUPPORT:%.c=$(TSAN_DIR)/%.o)
TSAN_ARCHER  := $(firstword $(wildcard $(dir $(realpath $(shell command -v $(TSAN_CC) 2>/dev/null)))../lib/libarcher.so \
                  /usr/lib/llvm-*/lib/libarcher.so))

.PHONY: test-tsan

$(TSAN_DIR)/%.o: %.c
	@mkdir -p $(@D)
	$(TSAN_CC) $(SAN_CPPFLAGS) $(TSAN_CFLAGS) -MMD -MP -c $< -o $@
$(TSAN_DIR)/%.emu.o: %.cu
	@mkdir -p $(@D)
	$(TSAN_CXX) $(SAN_CPPFLAGS) $(TSAN_CXXFLAGS) -MMD -MP -c $< -o $@
$(TSAN_DIR)/%.o: %.cc
	@mkdir -p $(@D)
	$(TSAN_CXX) -std=c++17 $(SAN_CPPFLAGS) -fPIC -ffp-contract=off $(WARN:-Wstrict-prototypes=) $(TSAN_FLAGS) \
	  -MMD -MP -c $< -o $@
$(TSAN_LIB): $(TSAN_OBJ)
	rm -f $@ && ar rcs $@ $^
$(TSAN_DIR)/tests/%: $(TSAN_DIR)/tests/unit/%.o $(TSAN_SUPPORT) $(TSAN_LIB)
	@mkdir -p $(@D)
	$(TSAN_CC) $(TSAN_FLAGS) -fopenmp -o $@ $^ $(PKG_LIBS) $(MPI_LIBS) -lcmocka -lstdc++

# The soak runs 5 s here: TSan slows it about tenfold, and the ASan run
# (make test) soaks for longer.
test-tsan: $(TSAN_BIN)
	@test -n "$(TSAN_ARCHER)" || { echo "test-tsan: libarcher.so not found (install libomp-dev)"; exit 1; }
	@failed=""; for t in $(TSAN_TESTS); do \
	  echo "tsan: $$t"; \
	  OMP_TOOL_LIBRARIES=$(TSAN_ARCHER) BIOFEED_SOAK_SECONDS=5 \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	    $(TSAN_DIR)/tests/$$t >$(TSAN_DIR)/$$t.log 2>&1 || { failed="$$failed $$t"; tail -60 $(TSAN_DIR)/$$t.log; }; \
	  grep -E '^\[  (PASSED|FAILED|SKIPPED) +\]' $(TSAN_DIR)/$$t.log; \
	done; \
	if [ -n "$$failed" ]; then echo "test-tsan: FAILED:$$failed (logs: $(TSAN_DIR)/<test>.log)"; exit 1; fi; \
	echo "test-tsan: no data race or failure in $(words $(TSAN_TESTS)) test programs"

-include $(TSAN_OBJ:.o=.d) $(TSAN_SUPPORT:.o=.d) $(TSAN_TESTS:%=$(TSAN_DIR)/tests/unit/%.d)
