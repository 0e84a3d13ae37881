# SPDX-License-Identifier: BSD-2-Clause
# Benchmarks: included by the top-level Makefile. `make bench-build` builds the benchmark's
# binaries; `make bench` builds them and runs bench/run.sh.
BENCH_BIN := $(BUILD)/bench/bench_dp $(BUILD)/bench/http_backend
BENCH_BPF := $(BUILD)/bench/floor.bpf.o $(BUILD)/bench/nohealth.bpf.o

.PHONY: bench-build
bench-build: $(BENCH_BIN) $(BENCH_BPF)

$(BUILD)/bench/floor.bpf.o: bench/floor.bpf.c $(BPF_HDRS)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# The data path without connection-health recording: the reference its cost is measured against.
$(BUILD)/bench/nohealth.bpf.o: bpf/bpfsplit.bpf.c $(BPF_HDRS)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -DBS_HEALTH_OFF -c $< -o $@

$(BUILD)/bench/bench_dp: bench/bench_dp.c tests/bpf/pktgen.h $(LIB) $(SKEL)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Itests/bpf $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS_DP) -lm

$(BUILD)/bench/http_backend: bench/http_backend.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -pthread -o $@ $<
