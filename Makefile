# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# cellgate build. Out of tree in build/, quiet unless V=1.

OUTPUT ?= build
PREFIX ?= /usr/local
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= gcc
ARCH := $(shell uname -m)
BPF_ARCH := $(patsubst x86_64,x86,$(patsubst aarch64,arm64,$(ARCH)))

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

PKGS := libbpf libelf zlib jansson libnl-3.0 libnl-route-3.0 libmicrohttpd
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
CFLAGS += -Iheaders -Iuser -I$(OUTPUT)/include $(PKG_CFLAGS)
LDLIBS += $(PKG_LIBS) -lm

BPF_CFLAGS := -target bpf -mcpu=v3 -g -O2 -Wall -Werror -D__TARGET_ARCH_$(BPF_ARCH) \
	-I/usr/include/$(ARCH)-linux-gnu -Iheaders -Ibpf

BPF_PROGS := steer decap baseline bench_traffic
BPF_OBJS := $(patsubst %,$(OUTPUT)/bpf/%.bpf.o,$(BPF_PROGS))
SKELS := $(patsubst %,$(OUTPUT)/include/%.skel.h,$(BPF_PROGS))
BPF_HDRS := $(wildcard bpf/*.h) $(wildcard headers/*.h)

LIB_SRCS := $(filter-out user/main.c,$(wildcard user/*.c))
LIB_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(LIB_SRCS))
LIB := $(OUTPUT)/libcellgate.a
USER_HDRS := $(wildcard user/*.h) $(wildcard headers/*.h)

TESTLIB_SRCS := $(wildcard selftests/lib/*.c)
TESTLIB_OBJS := $(patsubst selftests/lib/%.c,$(OUTPUT)/selftests/lib/%.o,$(TESTLIB_SRCS))
TEST_SRCS := $(wildcard selftests/test_*.c)
TEST_BINS := $(patsubst selftests/%.c,$(OUTPUT)/selftests/%,$(TEST_SRCS))
TOOL_SRCS := $(wildcard selftests/tools/*.c)
TOOL_BINS := $(patsubst selftests/tools/%.c,$(OUTPUT)/tools/%,$(TOOL_SRCS))
BENCH_SRCS := $(wildcard selftests/bench_*.c)
BENCH_BINS := $(patsubst selftests/%.c,$(OUTPUT)/selftests/%,$(BENCH_SRCS))

.DELETE_ON_ERROR:
.SECONDARY: $(BPF_OBJS) $(TESTLIB_OBJS) $(LIB_OBJS)
.PHONY: all deps test demo bench chaos clean install help

all: $(SKELS) $(OUTPUT)/cellgate $(TEST_BINS) $(TOOL_BINS) $(BENCH_BINS)

help:
	@echo 'make            build the CLI (build/cellgate), tests and tools'
	@echo 'make deps       install the Debian packages needed (as root), mount bpffs'
	@echo 'make test       deps + build + run every test; ends with "N passed, N failed, N skipped"'
	@echo 'make demo       deps + build + live demo in network namespaces'
	@echo 'make bench      deps + build + benchmarks (prints figures)'
	@echo 'make chaos      deps + build + every chaos drill in namespaces; reports and pictures in build/chaos/'
	@echo 'make install    install cellgate into $(PREFIX)/sbin'
	@echo 'make clean      remove build/'
	@echo 'V=1             show full commands'

deps:
	$(Q)scripts/install-deps.sh

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)selftests/run.sh $(OUTPUT)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh $(OUTPUT)

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)selftests/bench.sh $(OUTPUT)

chaos: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/chaos/run.sh $(OUTPUT)

install: $(OUTPUT)/cellgate
	install -D -m 0755 $(OUTPUT)/cellgate $(DESTDIR)$(PREFIX)/sbin/cellgate
	install -D -m 0644 docs/cellgate.8 $(DESTDIR)$(PREFIX)/share/man/man8/cellgate.8

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/include/%.skel.h: $(OUTPUT)/bpf/%.bpf.o | $(OUTPUT)/include
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name cg_$* > $@

$(OUTPUT)/user/%.o: user/%.c $(USER_HDRS) $(SKELS) | $(OUTPUT)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUTPUT)/cellgate: $(OUTPUT)/user/main.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/selftests/lib/%.o: selftests/lib/%.c $(wildcard selftests/lib/*.h) $(USER_HDRS) $(SKELS) | $(OUTPUT)/selftests/lib
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Iselftests/lib -c $< -o $@

$(OUTPUT)/selftests/%: selftests/%.c $(TESTLIB_OBJS) $(LIB) $(wildcard selftests/lib/*.h) $(SKELS) | $(OUTPUT)/selftests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) -Iselftests/lib $< $(TESTLIB_OBJS) $(LIB) $(LDLIBS) -o $@

$(OUTPUT)/tools/%: selftests/tools/%.c | $(OUTPUT)/tools
	$(call msg,TOOL,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lm

$(OUTPUT)/bpf $(OUTPUT)/include $(OUTPUT)/user $(OUTPUT)/selftests $(OUTPUT)/selftests/lib $(OUTPUT)/tools:
	$(Q)mkdir -p $@
