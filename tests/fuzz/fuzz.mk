# libFuzzer harnesses (issue 9), included by the top-level Makefile, which
# defines LIB_SRC, STUB_SRC, CPPFLAGS, WARN and PKG_LIBS first.
#
#   make fuzz              builds every tests/fuzz/fuzz_<target>.c, runs each for
#                          FUZZ_SECONDS (default 30) from its corpus and fails on
#                          any crash, leak, timeout or huge allocation in biofeed
#   make fuzz-regress      replays tests/fuzz/corpus/<target>/ and
#                          tests/fuzz/regress/<target>/ through each harness once
#   make fuzz-bin          builds the harnesses only
#   FUZZ_ONLY="fastx tiff" limits either run to those targets
#
# The harnesses link a copy of the library built by clang with libFuzzer's
# coverage hooks, ASan and UBSan into $(BUILD)/libfuzzer/. It is the CPU-only
# library (BFD_CUDA=0 with the CUDA stubs, so no NCCL either): the inputs
# fuzzed here never reach a kernel. Inputs a run finds go to
# $(BUILD)/libfuzzer/corpus/<target>/, failing ones to
# $(BUILD)/libfuzzer/artifacts/<target>/; a bug, once fixed, gets its
# minimized input (-minimize_crash=1) in tests/fuzz/regress/<target>/.
# tests/fuzz/make_corpus.py writes the seeds.
#
# Hostile sizes must be errors, not allocations: every run caps memory
# (-malloc_limit_mb, -rss_limit_mb), so an attempt to allocate a size that an
# input merely claims counts as a crash.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_DIR     := $(BUILD)/libfuzzer
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_ONLY    ?= $(FUZZ_TARGETS)
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_LIMITS  := -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10
FUZZ_SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CPPFLAGS = $(filter-out -DBFD_CUDA=% -DBFD_NCCL=%,$(CPPFLAGS)) -DBFD_CUDA=0 -DBFD_NCCL=0
# Sanitizer instrumentation keeps clang from vectorizing `omp simd` loops,
# which it reports as a warning (-Wpass-failed): not a finding here.
FUZZ_CFLAGS  := -O1 -g -std=c11 -ffp-contract=off -fopenmp $(WARN) -Wno-pass-failed $(FUZZ_SANFLAGS)
FUZZ_OBJ     := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(LIB_SRC) $(STUB_SRC))
FUZZ_LIB     := $(FUZZ_DIR)/libbiofeed.a
# Harnesses write their inputs under TMPDIR; a crashed or killed one cannot
# clean up, so each run gets a directory that is emptied after it.
FUZZ_ENV     := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                TMPDIR=$(abspath $(FUZZ_DIR))/tmp

.PHONY: fuzz fuzz-bin fuzz-regress
fuzz-bin: $(FUZZ_BIN)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(FUZZ_LIB): $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^
$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzzutil.h $(FUZZ_LIB)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(PKG_LIBS) -fopenmp

# Fork mode keeps a run going past a crash inside a third-party library
# (HDF5 is not hardened against malformed files); its exit status says only
# whether something failed, so tests/fuzz/triage.sh then replays every
# artifact alone and fails the target on any that is not a reviewed
# third-party defect (tests/fuzz/known_defects). The first corpus
# directory is where libFuzzer adds what it finds, so the checked-in corpus
# only ever grows by hand.
fuzz: $(FUZZ_BIN)
	@failed=""; for t in $(FUZZ_ONLY); do \
	  rm -rf $(FUZZ_DIR)/artifacts/$$t $(FUZZ_DIR)/tmp; \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/artifacts/$$t $(FUZZ_DIR)/tmp; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_ENV) $(FUZZ_DIR)/fuzz_$$t -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
	    -max_total_time=$(FUZZ_SECONDS) $(FUZZ_LIMITS) -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t/ \
	    $(FUZZ_DIR)/corpus/$$t $$(for d in tests/fuzz/corpus/$$t tests/fuzz/regress/$$t; do [ -d $$d ] && echo $$d; done) \
	    >$(FUZZ_DIR)/$$t.log 2>&1; \
	  grep -q '^INFO: exiting:' $(FUZZ_DIR)/$$t.log || { failed="$$failed $$t"; tail -20 $(FUZZ_DIR)/$$t.log; }; \
	  grep -E '^#[0-9]+: cov' $(FUZZ_DIR)/$$t.log | tail -1; \
	  $(FUZZ_ENV) tests/fuzz/triage.sh $(FUZZ_DIR)/fuzz_$$t $(FUZZ_DIR)/artifacts/$$t $(FUZZ_LIMITS) \
	    || failed="$$failed $$t"; \
	done; \
	rm -rf $(FUZZ_DIR)/tmp; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed (logs: $(FUZZ_DIR)/<target>.log)"; exit 1; fi; \
	echo "fuzz: every target ran $(FUZZ_SECONDS) s with no finding"

fuzz-regress: $(FUZZ_BIN)
	@rm -rf $(FUZZ_DIR)/tmp; mkdir -p $(FUZZ_DIR)/tmp; failed=""; for t in $(FUZZ_ONLY); do \
	  files=$$(find tests/fuzz/corpus/$$t tests/fuzz/regress/$$t -type f 2>/dev/null | sort); \
	  [ -n "$$files" ] || continue; \
	  $(FUZZ_ENV) $(FUZZ_DIR)/fuzz_$$t $(FUZZ_LIMITS) $$files >$(FUZZ_DIR)/$$t.regress.log 2>&1 \
	    || { failed="$$failed $$t"; tail -40 $(FUZZ_DIR)/$$t.regress.log; }; \
	  echo "fuzz-regress: $$t: $$(echo $$files | wc -w) inputs"; \
	done; \
	rm -rf $(FUZZ_DIR)/tmp; \
	if [ -n "$$failed" ]; then echo "fuzz-regress: FAILED:$$failed (logs: $(FUZZ_DIR)/<target>.regress.log)"; exit 1; fi

-include $(FUZZ_OBJ:.o=.d)
