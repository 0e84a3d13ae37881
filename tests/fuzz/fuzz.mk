# SPDX-License-Identifier: BSD-2-Clause
# Fuzzing (included from the Makefile): libFuzzer harnesses built with clang under ASan
# and UBSan, into $(BUILD)/fuzz/. `make test` replays every regression input and seed and
# fuzzes each harness for a bounded time (tests/fuzz/run.py, about a minute in all);
# `make fuzz FUZZ_SECONDS=600` fuzzes each for as long as asked. A crash's input is
# copied to tests/fuzz/regressions/<harness>/, which every later run replays.

FUZZ_CC ?= clang
FUZZ_FLAGS := -g -O1 -std=gnu11 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Wall -Werror -Iinclude -Ilib -Iagent -Itools -D_GNU_SOURCE
FUZZ_K8S_SRCS := agent/k8s/objects.c agent/k8s/watch_stream.c agent/k8s/kubeconfig.c
FUZZ_HARNESSES := fuzz_k8s_objects fuzz_watch_stream fuzz_kubeconfig fuzz_spec_json fuzz_bs_parse
FUZZ_BINS := $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ_HARNESSES))
FUZZ_SECONDS ?= 60

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS)

$(BUILD)/fuzz/fuzz_k8s_objects $(BUILD)/fuzz/fuzz_watch_stream $(BUILD)/fuzz/fuzz_kubeconfig: \
		$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_K8S_SRCS) $(wildcard agent/k8s/*.h)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_K8S_SRCS) -lcjson -lyaml

# The spec reader needs libbpfsplit (names, spec_free): all of it, built with the sanitizers.
$(BUILD)/fuzz/fuzz_spec_json: tests/fuzz/fuzz_spec_json.c tools/spec_json.c tools/spec_json.h $(LIB_SRCS) \
		$(wildcard lib/*.h) $(SKEL)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -I$(BUILD) -o $@ $< tools/spec_json.c $(LIB_SRCS) -lcjson $(LDLIBS_DP)

$(BUILD)/fuzz/fuzz_bs_parse: tests/fuzz/fuzz_bs_parse.c bpf/bs_parse.h tests/bpf/pktgen.h $(wildcard include/bpfsplit/*.h)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $<

# make test builds the harnesses too (run_all.py runs tests/fuzz/run.py).
test: fuzz-build

# The packet fuzzer (tests/bpf/test_pktfuzz.c) too: about 20,000 frames a second, from a
# fresh seed each time (it prints the seed; BS_PKTFUZZ_SEED=... repeats a run).
fuzz: deps fuzz-build $(BUILD)/tests/bpf/test_pktfuzz
	$(Q)/usr/bin/python3 tests/fuzz/run.py $(BUILD) --seconds $(FUZZ_SECONDS)
	$(Q)BS_PKTFUZZ_ITERS=$$(( $(FUZZ_SECONDS) * 20000 )) BS_PKTFUZZ_SEED=$${BS_PKTFUZZ_SEED:-$$(date +%s)} \
		BPFSPLIT_BUILD=$(abspath $(BUILD)) CMOCKA_MESSAGE_OUTPUT=stdout $(BUILD)/tests/bpf/test_pktfuzz
