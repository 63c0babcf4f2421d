# inferlb: `make` builds everything, `make test` runs every test, `make demo` runs the demo.
# Quiet unless V=1.

BUILD    ?= build
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Wno-unused-parameter -std=gnu11 -D_GNU_SOURCE \
            -iquote include -iquote user -I$(BUILD) -I$(BUILD)/bpf -I/usr/share/include/llhttp
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Wno-unused-function \
            -Iinclude -I$(BUILD)
LIBS     := -lbpf -lxdp -lelf -lz -lmnl -lcjson -lcurl -lxxhash -lyaml -lmicrohttpd -lpthread -lm

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.skel.h,$(BPF_SRCS))

# user/ is the library both binaries share, by concern (see README, Layout); agent/main.c and
# cli/ hold the mains.
AGENT_MAIN := user/agent/main.c
LIB_SRCS  := $(filter-out $(AGENT_MAIN) user/cli/%,$(wildcard user/*.c user/*/*.c))
LIB_OBJS  := $(patsubst user/%.c,$(BUILD)/user/%.o,$(LIB_SRCS))
CLI_SRCS  := $(wildcard user/cli/*.c)
CLI_OBJS  := $(patsubst user/%.c,$(BUILD)/user/%.o,$(CLI_SRCS))
LIBILB    := $(BUILD)/libinferlb.a

LLHTTP_SRCS := $(wildcard /usr/share/llhttp/*.c)
LLHTTP      := $(BUILD)/llhttp/libllhttp.a

# tools/NAME/*.c -> build/NAME
TOOLS     := $(notdir $(patsubst %/,%,$(dir $(wildcard tools/*/*.c))))
TOOL_BINS := $(addprefix $(BUILD)/,$(sort $(TOOLS)))

# tools/bench/probe/*.c -> build/row7-probe: bench row 7's probe reads the agent's pinned maps
# and control socket, so it links the library and the CLI's control-socket client
PROBE_SRCS := $(wildcard tools/bench/probe/*.c)
PROBE_BIN := $(BUILD)/row7-probe

# tests/unit/test_*.c (cmocka) and tests/bpf/test_*.c (BPF_PROG_TEST_RUN) -> build/tests/
TEST_SRCS := $(wildcard tests/unit/test_*.c tests/bpf/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

# A build needs these; on a machine without one, every build target stops at once and says so
# (`make deps`, as root, installs them all). Goals that build nothing, or install first (the
# README's two commands, `make test` and `make demo`), skip it.
NEEDS_NOTHING := deps clean test demo demo-up demo-down
REQ_CMDS      := $(firstword $(CC)) $(firstword $(CLANG)) $(firstword $(BPFTOOL)) ar
REQ_HEADERS   := bpf/libbpf.h xdp/libxdp.h libelf.h zlib.h libmnl/libmnl.h cjson/cJSON.h curl/curl.h \
                 xxhash.h yaml.h microhttpd.h cmocka.h ncursesw/curses.h llhttp.h
ifneq ($(filter-out $(NEEDS_NOTHING),$(or $(MAKECMDGOALS),all)),)
missing_cmd := $(firstword $(foreach c,$(REQ_CMDS),$(if $(shell command -v $(c)),,$(c))))
ifneq ($(missing_cmd),)
$(error $(missing_cmd) not found: run `make deps` as root)
endif
# The preprocessor stops at the first header it cannot find and names it (\043 is printf's #).
missing_header := $(shell printf '$(foreach h,$(REQ_HEADERS),\043include <$(h)>\n)' | \
	LC_ALL=C $(CC) -E -I/usr/share/include/llhttp -x c - -o /dev/null 2>&1 | \
	sed -n 's/.*fatal error: \([^:]*\): .*/\1/p')
ifneq ($(missing_header),)
$(error header $(missing_header) not found: run `make deps` as root)
endif
ifeq ($(LLHTTP_SRCS),)
$(error llhttp sources (/usr/share/llhttp/*.c) not found: run `make deps` as root)
endif
endif
# The fuzzers link clang's libFuzzer runtime (libclang-rt).
ifneq ($(filter fuzz,$(MAKECMDGOALS)),)
ifneq ($(shell echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' | \
	$(CLANG) -fsanitize=fuzzer -x c - -o /dev/null >/dev/null 2>&1 && echo ok),ok)
$(error $(CLANG) cannot link -fsanitize=fuzzer (libclang-rt): run `make deps` as root)
endif
endif

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all deps test test-unit test-e2e bench bench-xdp demo demo-up demo-down clean fuzz vmtest

all: $(BUILD)/inferlb-agent $(BUILD)/inferlb $(TOOL_BINS) $(PROBE_BIN) $(TEST_BINS)

deps:
	$(Q)tools/deps.sh

$(BUILD)/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h include/*.h) $(BUILD)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

$(LLHTTP): $(LLHTTP_SRCS)
	$(call msg,AR,$@)
	$(Q)mkdir -p $(@D)
	$(Q)for f in $(LLHTTP_SRCS); do \
		$(CC) -O2 -fPIC -I/usr/share/include/llhttp -c $$f -o $(@D)/$$(basename $$f .c).o || exit 1; done
	$(Q)ar rcs $@ $(@D)/*.o

$(BUILD)/user/%.o: user/%.c $(SKELS) $(wildcard user/*.h user/*/*.h include/*.h)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIBILB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/inferlb-agent: $(BUILD)/user/agent/main.o $(LIBILB) $(LLHTTP)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LIBS) -o $@

$(BUILD)/inferlb: $(CLI_OBJS) $(LIBILB) $(LLHTTP)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LIBS) -lncursesw -o $@

$(PROBE_BIN): $(PROBE_SRCS) $(wildcard tools/bench/probe/*.h) $(BUILD)/user/cli/ctl_client.o $(LIBILB) $(LLHTTP)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(PROBE_SRCS) $(BUILD)/user/cli/ctl_client.o $(LIBILB) $(LLHTTP) $(LIBS) -o $@

.SECONDEXPANSION:
# Tools stand alone: they speak to inferlb over the network only, so they link no agent code.
$(TOOL_BINS): $(BUILD)/%: $$(wildcard tools/%/*.c tools/%/*.h) $(LLHTTP)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -Itools/$* $(wildcard tools/$*/*.c) $(LLHTTP) $(LIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(LIBILB) $(LLHTTP) $(SKELS) $(wildcard tests/*/*.h)
	$(call msg,TEST,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(LIBILB) $(LLHTTP) $(LIBS) -lcmocka -o $@

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(LLHTTP_SRCS) $(SKELS)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -iquote include -iquote user -I$(BUILD) \
		-I$(BUILD)/bpf -I/usr/share/include/llhttp $< $(LIB_SRCS) \
		$(LLHTTP_SRCS) $(LIBS) -o $@

fuzz: $(FUZZ_BINS)

test:
	$(Q)tools/deps.sh && $(MAKE) --no-print-directory all fuzz && tests/run.sh

bench-xdp: all
	$(Q)$(BUILD)/tests/bpf/test_xdp_steer --bench

bench: all
	$(Q)tools/bench/run.sh

demo:
	$(Q)tools/deps.sh && $(MAKE) --no-print-directory all && tools/demo/demo.sh run

demo-up:
	$(Q)tools/deps.sh && $(MAKE) --no-print-directory all && tools/demo/demo.sh up

demo-down:
	$(Q)tools/demo/demo.sh down

vmtest: all
	$(Q)vmtest/run.sh

clean:
	$(Q)rm -rf $(BUILD)
