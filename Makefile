# SPDX-License-Identifier: BSD-2-Clause
# bpfsplit — top-level build. `make help` lists the targets.
# Everything built goes to $(BUILD); nothing generated is committed.

BUILD ?= build
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null)

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror
VERSION ?= 0.1.0$(shell git rev-parse --short HEAD 2>/dev/null | sed "s/^/+g/")
VERSION := $(VERSION)
CPPFLAGS += -Iinclude -Ilib -Iagent -I$(BUILD) -D_GNU_SOURCE -DBPFSPLIT_VERSION='"$(VERSION)"'
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -Ibpf \
	$(if $(MULTIARCH),-I/usr/include/$(MULTIARCH)) -Wall -Werror
LDLIBS_DP := -lbpf -lelf -lz

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_HDRS := $(wildcard bpf/*.h) $(wildcard include/bpfsplit/*.h)
SKEL := $(BUILD)/bpfsplit.skel.h

LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRCS))
LIB := $(BUILD)/libbpfsplit.a

AGENT_LIB_SRCS := $(wildcard agent/k8s/*.c) $(filter-out agent/main.c,$(wildcard agent/*.c))
AGENT_LIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(AGENT_LIB_SRCS))
AGENT_LIB := $(BUILD)/libbpfsplit-agent.a
LDLIBS_AGENT := -lcurl -lcjson -lyaml -lmicrohttpd

CLI_SRCS := $(wildcard tools/*.c)
CLI := $(BUILD)/bpfsplit
AGENT := $(BUILD)/bpfsplit-agent

TEST_C_SRCS := $(wildcard tests/unit/test_*.c) $(wildcard tests/bpf/test_*.c)
TEST_C_BINS := $(patsubst %.c,$(BUILD)/%,$(TEST_C_SRCS))
# Test tooling (not suites): tests/tools/*.c, e.g. the flow-group predictor of the e2e tests.
TEST_TOOL_BINS := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/tools/*.c))

# Object files of test binaries are kept, so that relinking is cheap.
.SECONDARY:

.PHONY: all bins help test demo demo-clean bench clean install deps image
all: $(BPF_OBJS) $(SKEL) $(LIB) $(AGENT_LIB) $(CLI) $(if $(wildcard agent/main.c),$(AGENT)) $(TEST_C_BINS) $(TEST_TOOL_BINS)

# The two binaries only (what the image holds).
bins: $(CLI) $(AGENT)

help:
	@echo "make            build BPF objects, skeletons, library, CLI and test binaries into $(BUILD)/"
	@echo "make test       install dependencies, build, run every test (unit, BPF, end-to-end)"
	@echo "make demo       install dependencies, build, run the canary-rollout demo"
	@echo "make demo CLUSTER=1  the same rollout on a three-node cluster lab (pods and outside traffic)"
	@echo "make bench      run the benchmarks"
	@echo "make fuzz       run every fuzzer for FUZZ_SECONDS each (default 60); crashes become regression inputs"
	@echo "make check-asan build the unit and BPF tests with ASan and UBSan and run them"
	@echo "make bench-build  build the benchmark binaries only"
	@echo "make install    install binaries under PREFIX (default /usr/local)"
	@echo "make image      build the container image with podman (IMAGE=name:tag)"
	@echo "make clean      remove $(BUILD)/"
	@echo "V=1             show the commands"

deps:
	$(Q)scripts/install-deps.sh

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(SKEL): $(BUILD)/bpf/bpfsplit.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name bpfsplit_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/%.o: %.c $(SKEL) $(wildcard include/bpfsplit/*.h lib/*.h agent/*.h agent/k8s/*.h tests/unit/*.h tests/bpf/*.h tools/*.h)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(AGENT_LIB): $(AGENT_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(CLI): $(patsubst %.c,$(BUILD)/%.o,$(CLI_SRCS)) $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_DP) -lcjson

$(AGENT): $(BUILD)/agent/main.o $(AGENT_LIB) $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_AGENT) $(LDLIBS_DP) -lpthread

$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_DP)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(AGENT_LIB) $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_AGENT) $(LDLIBS_DP) -lcmocka -lpthread

test: deps all
	$(Q)tests/run_all.py $(BUILD)

demo: deps all
	$(Q)BPFSPLIT_BUILD=$(abspath $(BUILD)) /usr/bin/python3 scripts/$(if $(filter 1,$(CLUSTER)),demo_cluster.py,demo.py)

demo-clean:
	$(Q)BPFSPLIT_BUILD=$(abspath $(BUILD)) /usr/bin/python3 scripts/demo.py clean

bench: deps all bench-build
	$(Q)bench/run.sh $(BUILD)

include bench/bench.mk
# Test-only fragments: optional, the image build copies no tests/.
-include tests/fuzz/fuzz.mk
-include tests/check-asan.mk

PREFIX ?= /usr/local
install: bins
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(CLI) $(DESTDIR)$(PREFIX)/bin/
	if [ -x $(AGENT) ]; then install -m 0755 $(AGENT) $(DESTDIR)$(PREFIX)/bin/; fi

# The container image (deploy/Containerfile) with podman; the Debian base comes from
# debootstrap when no registry is reachable (scripts/image-base.sh, cached).
IMAGE ?= ghcr.io/bpfsplit/bpfsplit:0.1.0
image: deps
	$(Q)IMAGE=$(IMAGE) scripts/build-image.sh

clean:
	rm -rf $(BUILD)

# The live page is built into the agent (agent/ui.c includes it with .incbin).
$(BUILD)/agent/ui.o: agent/ui.html
