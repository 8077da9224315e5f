# eddy: an io_uring async runtime for C with PEP 567 contexts.
#
#   make            build/libeddy.a, build/libeddy.so, examples and tests
#   make demo       build and run the main demo, and write a trace and a
#                   picture of each of its routes into build/forum-traces/
#   make pictures   redraw the forum pictures that docs/ shows
#   make test       the Criterion suite: optimised, then ASan+UBSan,
#                   and the thread tests under TSan
#   make bench      benchmarks against the peers (CPython, glibc, nginx, ...)
#   make soak       the HTTP load test at full size: 10,000 connections x 100
#   make fuzz       the HTTP parser under libFuzzer for FUZZ_SECONDS (clang)
#   make install    PREFIX=/usr/local DESTDIR= ; make uninstall
#   make clean
#
# Every output goes to build/.  CC=clang works as well as gcc.

CC      ?= cc
PREFIX  ?= /usr/local
FUZZ_SECONDS ?= 60
ARCH    := $(shell uname -m)
CCNAME  := $(notdir $(firstword $(CC)))
B       := build
OUT     := $(B)/$(CCNAME)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CFLAGS  ?= -g
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden \
             -fstack-clash-protection -I.
LIBS    := -luring -lpthread

# Variants of the library: what users get, and the builds tests run on.
FLAGS_lib  := -O2
FLAGS_test := -O2 -DEDDY_TEST_HOOKS
FLAGS_asan := -O1 -DEDDY_TEST_HOOKS -fno-omit-frame-pointer \
              -fsanitize=address,undefined -fno-sanitize-recover=all
FLAGS_tsan := -O1 -DEDDY_TEST_HOOKS -fsanitize=thread
FLAGS_notrace := -O2 -DEDDY_NO_TRACE

MODULES   := ctx task loop net
PUBLIC_H  := ctx/common.h ctx/ctx.h task/task.h loop/loop.h loop/sync.h \
             loop/observe.h net/net.h net/http.h
LIB_SRC   := $(wildcard $(addsuffix /*.c,$(MODULES))) \
             $(wildcard $(addsuffix /*_$(ARCH).S,$(MODULES)))
LIB_OBJ   := $(addsuffix .o,$(basename $(LIB_SRC)))
TESTS     := $(basename $(notdir $(wildcard tests/*.c)))
TSAN_TESTS:= $(filter %_threads,$(TESTS))
EXAMPLES  := $(basename $(wildcard examples/*.c examples/*/*.c))
BENCHES   := $(basename $(notdir $(wildcard bench/*.c)))
DEMO      := examples/forum/forum

# The aarch64 switch test: cross-built, run under qemu-user.  Optional:
# XSKIP says why it cannot run here, and is empty when it can.
XCC   := $(if $(filter clang%,$(CCNAME)),$(CC) --target=aarch64-linux-gnu,aarch64-linux-gnu-gcc)
XQEMU := qemu-aarch64
XTEST := $(OUT)-aarch64/switch_test
XSKIP  = $(shell r=; command -v $(XQEMU) >/dev/null || r="no $(XQEMU)"; \
           echo 'int main(void){return 0;}' | \
           $(XCC) -static -x c - -o /dev/null 2>/dev/null || \
           r="$${r:+$$r, }$(firstword $(XCC)) cannot build static aarch64 binaries"; \
           echo "$$r")

.PHONY: all test demo pictures bench soak fuzz install uninstall clean deps \
        deps-aarch64 deps-bench
.DEFAULT_GOAL := all
.SECONDARY:

all: $(B)/libeddy.a $(B)/libeddy.so \
     $(addprefix $(B)/,$(EXAMPLES)) \
     $(addprefix $(OUT)-test/tests/,$(TESTS))

test: deps deps-aarch64
	@$(MAKE) --no-print-directory test-build $(if $(XSKIP),,$(XTEST))
	@tests/run $(OUT) "$(TESTS)" "$(TSAN_TESTS)" \
	  "$(if $(XSKIP),skip: $(XSKIP),$(XQEMU) $(XTEST))"

test-build: $(foreach v,test asan,$(addprefix $(OUT)-$(v)/tests/,$(TESTS))) \
            $(addprefix $(OUT)-tsan/tests/,$(TSAN_TESTS))

# The forum demo's traces, drawn by the renderer: one per route and policy.
TRACES  := $(B)/forum-traces
RENDER  := python3 examples/trace/render.py
PICTURES:= $(foreach p,copy share merge,$(foreach r,sync-logged \
             async-in-task-logged,docs/pictures/forum-$(p)-$(r).svg))

demo: deps
	@$(MAKE) --no-print-directory $(B)/$(DEMO)
	@mkdir -p $(TRACES)
	@$(B)/$(DEMO) --trace $(TRACES)
	@for t in $(TRACES)/*.json; do $(RENDER) $$t -o $${t%.json}.svg || exit 1; done
	@echo "A trace and a picture of each route: $(TRACES)/"

pictures: demo
	@mkdir -p docs/pictures
	@for p in $(PICTURES); do \
	  $(RENDER) $(TRACES)/$$(basename $$p .svg).json -o $$p || exit 1; done

bench: deps deps-bench
	@$(MAKE) --no-print-directory $(addprefix $(B)/bench/,$(BENCHES))
	@for b in $(BENCHES); do $(B)/bench/$$b || exit 1; done

# tests/net_http_load at the issue's size; `make test` runs it smaller.
soak: deps
	@$(MAKE) --no-print-directory $(OUT)-test/tests/net_http_load
	EDDY_LOAD_CONNS=10000 EDDY_LOAD_REQS=100 \
	  $(OUT)-test/tests/net_http_load --verbose

# The fuzzer mutates a copy of the seed corpus in build/, so the seeds in
# tests/ stay as they are; what it adds there can be copied back by hand.
fuzz:
	@$(MAKE) --no-print-directory CC=clang deps
	@$(MAKE) --no-print-directory $(B)/fuzz/http_parse_fuzz
	@rm -rf $(B)/fuzz/corpus && mkdir -p $(B)/fuzz/corpus && \
	  cp -r $(HTTP_CORPUS) $(B)/fuzz/corpus/
	$(B)/fuzz/http_parse_fuzz -max_total_time=$(FUZZ_SECONDS) \
	  -max_len=4096 -dict=tests/fuzz/http_parse.dict \
	  -artifact_prefix=$(B)/fuzz/ $(B)/fuzz/corpus/http_parse

# --- the library, in each variant -------------------------------------------

define variant
$(OUT)-$(1)/%.o: %.c
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) $$(FLAGS_$(1)) -MMD -MP -c $$< -o $$@
$(OUT)-$(1)/%.o: %.S
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) $$(FLAGS_$(1)) -MMD -MP -c $$< -o $$@
$(OUT)-$(1)/libeddy.a: $(addprefix $(OUT)-$(1)/,$(LIB_OBJ))
	@rm -f $$@
	$$(AR) rcs $$@ $$^
$(OUT)-$(1)/tests/%: $(OUT)-$(1)/tests/%.o $(OUT)-$(1)/libeddy.a
	$$(CC) $$(FLAGS_$(1)) -o $$@ $$^ -lcriterion $$(LIBS)
-include $$(shell find $(OUT)-$(1) -name '*.d' 2>/dev/null)
endef
$(foreach v,lib test asan tsan notrace,$(eval $(call variant,$(v))))

$(B)/libeddy.a: $(OUT)-lib/libeddy.a
	cp $< $@
$(B)/libeddy.so: $(addprefix $(OUT)-lib/,$(LIB_OBJ))
	$(CC) -shared -Wl,-soname,libeddy.so.0 -o $@ $^ $(LIBS)

$(B)/examples/%: examples/%.c $(B)/libeddy.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -O2 -o $@ $< $(B)/libeddy.a $(LIBS)

# tests/net_echo_example runs examples/echo's server and client.
NET_ECHO_EXAMPLE := $(foreach v,test asan,$(OUT)-$(v)/tests/net_echo_example)
$(addsuffix .o,$(NET_ECHO_EXAMPLE)): ALL_CFLAGS += \
	-DECHO_BIN_DIR='"$(abspath $(B)/examples/echo)"'
$(NET_ECHO_EXAMPLE): | $(B)/examples/echo/server $(B)/examples/echo/client

# tests/forum_golden and forum_pictures run the forum demos: they are built
# first, and told where they and the golden files are.
FORUM_GOLDEN := $(foreach t,forum_golden forum_pictures,\
                  $(foreach v,test asan,$(OUT)-$(v)/tests/$(t)))
$(addsuffix .o,$(FORUM_GOLDEN)): ALL_CFLAGS += -DEDDY_SRC_DIR='"$(CURDIR)"' \
	-DFORUM_BIN_DIR='"$(abspath $(B)/examples/forum)"'
$(FORUM_GOLDEN): | $(addprefix $(B)/,$(filter examples/forum/%,$(EXAMPLES)))

# tests/net_examples runs examples/webapp and examples/hello and asks them
# with curl.
NET_EXAMPLES := $(foreach v,test asan,$(OUT)-$(v)/tests/net_examples)
$(addsuffix .o,$(NET_EXAMPLES)): ALL_CFLAGS += \
	-DWEBAPP_BIN='"$(abspath $(B)/examples/webapp/webapp)"' \
	-DHELLO_BIN='"$(abspath $(B)/examples/hello/hello)"'
$(NET_EXAMPLES): | $(B)/examples/webapp/webapp $(B)/examples/hello/hello

# bench/http runs examples/hello against nginx, whose files go to build/.
$(B)/bench/http: ALL_CFLAGS += \
	-DHELLO_BIN='"$(abspath $(B)/examples/hello/hello)"' \
	-DNGINX_DIR='"$(abspath $(B)/bench/nginx)"'
$(B)/bench/http: | $(B)/examples/hello/hello

# tests/net_http_corpus replays the fuzzer's seeds: it is told where they are.
HTTP_CORPUS := tests/fuzz/corpus/http_parse
$(foreach v,test asan,$(OUT)-$(v)/tests/net_http_corpus.o): \
	ALL_CFLAGS += -DEDDY_HTTP_CORPUS='"$(CURDIR)/$(HTTP_CORPUS)"'

$(B)/fuzz/http_parse_fuzz: tests/fuzz/http_parse_fuzz.c net/http_parse.c \
			   net/http_parse.h tests/net_http_check.h
	@mkdir -p $(@D)
	clang -std=c11 $(WARN) -g -O1 -I. -fno-omit-frame-pointer \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -o $@ $(filter %.c,$^)

# bench/http_parse runs beside Node's classic http_parser.
bench: DEB_PKGS += libhttp-parser-dev:http_parser.h
$(B)/bench/http_parse: LIBS += -lhttp_parser

$(B)/bench/%: bench/%.c $(B)/libeddy.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -O2 -o $@ $< $(B)/libeddy.a $(LIBS)

# bench/observe times itself against the same code built on a library
# without event sites (-DEDDY_NO_TRACE).
$(B)/bench/observe: | $(B)/bench/observe_notrace
$(B)/bench/observe_notrace: bench/observe.c $(OUT)-notrace/libeddy.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -O2 -o $@ $< $(OUT)-notrace/libeddy.a $(LIBS)

# --- the aarch64 switch, cross-built and run under qemu-user ----------------

# A static binary of the switch and a small harness, which qemu-aarch64 runs
# on any host.
$(XTEST): tests/aarch64/switch_test.c task/switch_aarch64.S task/switch.h
	@mkdir -p $(@D)
	$(XCC) -std=c11 $(WARN) -O2 -g -static -I. -o $@ $(filter-out %.h,$^)

# --- dependencies ------------------------------------------------------------

# Debian packages the build needs, and a header that proves each is there;
# then those that bring a command instead (the tests run curl).
DEB_PKGS := liburing-dev:liburing.h libcriterion-dev:criterion/criterion.h \
            valgrind:valgrind/valgrind.h
DEB_CMDS := curl:curl
ifeq ($(CCNAME),clang)
DEB_PKGS += libclang-rt-dev:sanitizer/asan_interface.h
endif

# The shell lines that install the packages listed in $$missing (as root,
# with apt-get) or say which ones $(1) needs and stop.
define apt_install
[ -z "$$missing" ] && exit 0; \
if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
  echo "installing$$missing"; \
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing \
    >/dev/null || { apt-get update -q >/dev/null && \
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing \
    >/dev/null; } || { echo "apt-get could not install$$missing"; exit 1; }; \
else \
  echo "$(1) needs these packages; install them (as root: apt-get install$$missing) and run make again."; \
  exit 1; \
fi
endef

# The shell loop adding to $$missing the packages of $(1) (package:command
# pairs) whose command is not there.
missing_cmds = for p in $(1); do \
  command -v "$${p\#*:}" >/dev/null || missing="$$missing $${p%%:*}"; \
done

deps:
	@missing=; for p in $(DEB_PKGS); do \
	  printf '#include <%s>\n' "$${p#*:}" | $(CC) -E -x c - >/dev/null 2>&1 \
	    || missing="$$missing $${p%%:*}"; \
	done; \
	$(call missing_cmds,$(DEB_CMDS)); \
	$(call apt_install,eddy)

# The peers bench/http runs (Debian packages that bring a command).
BENCH_CMDS := wrk:wrk nginx:nginx

deps-bench:
	@missing=; $(call missing_cmds,$(BENCH_CMDS)); \
	$(call apt_install,bench/http)

# The aarch64 switch test's tools, installed when possible, never required.
XDEB_PKGS := gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user

deps-aarch64:
	@[ -z "$(XSKIP)" ] || [ "$$(id -u)" != 0 ] || \
	! command -v apt-get >/dev/null || { \
	  echo "installing $(XDEB_PKGS) (optional)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(XDEB_PKGS) \
	    >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(XDEB_PKGS) \
	    >/dev/null 2>&1; } || echo "could not install $(XDEB_PKGS)"; }

# --- install -----------------------------------------------------------------

INC := $(DESTDIR)$(PREFIX)/include
LIBDIR := $(DESTDIR)$(PREFIX)/lib

# Installed module headers sit side by side in include/eddy/, so their
# "module/name.h" includes become "name.h", and eddy.h's become "eddy/...".
install: $(B)/libeddy.a $(B)/libeddy.so
	install -d $(INC)/eddy $(LIBDIR)/pkgconfig
	for h in $(PUBLIC_H); do \
	  sed 's|^#include "[a-z]*/\([a-z_]*\.h\)"|#include "\1"|' $$h \
	    > $(INC)/eddy/$$(basename $$h); done
	sed 's|^#include "[a-z]*/|#include "eddy/|' eddy.h > $(INC)/eddy.h
	install -m 644 $(B)/libeddy.a $(LIBDIR)/libeddy.a
	install -m 755 $(B)/libeddy.so $(LIBDIR)/libeddy.so.0
	ln -sf libeddy.so.0 $(LIBDIR)/libeddy.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBS@|$(LIBS)|' eddy.pc.in \
	  > $(LIBDIR)/pkgconfig/eddy.pc

uninstall:
	rm -rf $(INC)/eddy
	rm -f $(INC)/eddy.h $(LIBDIR)/libeddy.a $(LIBDIR)/libeddy.so \
	  $(LIBDIR)/libeddy.so.0 $(LIBDIR)/pkgconfig/eddy.pc

clean:
	rm -rf $(B)
