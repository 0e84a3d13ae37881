# SPDX-License-Identifier: BSD-2-Clause
# make check-asan (included from the Makefile): the C unit tests and the BPF tests
# (tests/unit, tests/bpf) and the libraries under them built with AddressSanitizer and
# UndefinedBehaviorSanitizer into $(BUILD)/asan/, then run; any report fails the run.
# make test runs it as one more suite (tests/run_all.py runs it through this target).

ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
ASAN_BUILD := $(BUILD)/asan

.PHONY: check-asan asan-build test-bins
test-bins: $(TEST_C_BINS)

asan-build:
	$(Q)CFLAGS="$(ASAN_CFLAGS)" $(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) test-bins

# halt_on_error and exitcode: a report fails the test binary, which run_all.py counts.
check-asan: asan-build
	$(Q)ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:exitcode=99 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		/usr/bin/python3 tests/run_all.py $(ASAN_BUILD) asan/tests/unit/ asan/tests/bpf/
