# Hark - build, test and run.
#
#   make            build the release binaries into bin/
#   make run        install what is missing, build, start harkd with config/hark.conf
#   make test       install what is missing, build under ASan+UBSan, run unit and end-to-end tests
#   make bench      benchmarks (tests/bench/), optimised build
#   make deps       only install the Debian packages Hark needs (when absent)
#
# MODE=release builds into bin/ (what `make run` starts); MODE=san builds the
# same sources with AddressSanitizer and UBSan into build/san/bin/ for tests.

MODE    ?= release
CONFIG  ?= config/hark.conf
CC      ?= cc
PYTHON  := /usr/bin/python3

# Debian packages: build libraries, and the real parts tests talk to.
DEB_BUILD := build-essential pkg-config libzmq3-dev libsqlite3-dev sqlite3 \
             libmicrohttpd-dev libjansson-dev libinih-dev libcmark-dev \
             libesmtp-dev libunistring-dev nettle-dev libssl-dev tzdata openssl
DEB_TEST  := python3 python3-pytest python3-zmq python3-jsonschema \
             python3-aiosmtpd postfix curl valgrind
DEB_BENCH := wrk

PKGS    := libzmq sqlite3 libmicrohttpd jansson inih libcmark libesmtp-1.0 nettle openssl
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g \
               -Iservices/common -Ibuild/gen $(addprefix -Iservices/,$(SERVICE_DIRS))

ifeq ($(MODE),san)
  OUT     := build/san
  BINDIR  := build/san/bin
  CFLAGS_MODE := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                 -fno-sanitize-recover=undefined
  LDFLAGS_MODE := -fsanitize=address,undefined
else
  OUT     := build/release
  BINDIR  := bin
  CFLAGS_MODE := -O2
  LDFLAGS_MODE :=
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lunistring -ldl -lm -lpthread
CFLAGS  += $(CFLAGS_BASE) $(CFLAGS_MODE) $(PKG_CFLAGS)
LDFLAGS += $(LDFLAGS_MODE)

COMMON_SRC := $(wildcard services/common/*.c)
COMMON_OBJ := $(patsubst %.c,$(OUT)/obj/%.o,$(COMMON_SRC)) $(OUT)/obj/gen/proto_gen.o
LIBHARK    := $(OUT)/libhark.a

# Every folder under services/ but common/ is one program.  harkd and hark
# keep their names; every other service is hark-<folder>.
SERVICE_DIRS := $(filter-out common,$(notdir $(wildcard services/*)))
prog_name = $(if $(filter harkd hark,$(1)),$(1),hark-$(1))
PROGS := $(foreach d,$(SERVICE_DIRS),$(BINDIR)/$(call prog_name,$(d)))

# Test-only services (tests/services/<name>/) become hark-<name> beside the others.
TEST_SERVICE_DIRS := $(notdir $(wildcard tests/services/*))
TEST_PROGS := $(foreach d,$(TEST_SERVICE_DIRS),$(BINDIR)/hark-$(d))

# Every service's parts but its main file, for unit tests of those parts
# (an archive: a test links only the objects it uses).
SVC_PART_SRC := $(filter-out $(foreach d,$(SERVICE_DIRS),services/$(d)/$(d).c),\
                  $(foreach d,$(SERVICE_DIRS),$(wildcard services/$(d)/*.c)))
SVC_PART_OBJ := $(patsubst %.c,$(OUT)/obj/%.o,$(SVC_PART_SRC))
LIBSVC       := $(OUT)/libhark-services.a

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRC))

PROTO_FILES := $(wildcard proto/events/*.json) proto/commands.json proto/envelope.json

.PHONY: bench-journal bench-mail bench-survey bench-milestone bench-intake bench-loop all build run test test-build test-unit test-e2e bench soak deps deps-test clean \
        check-config san
.DEFAULT_GOAL := all

all: build

build: $(PROGS)

# --- generated code: proto/ compiled in, so no binary depends on its checkout --
build/gen/proto_gen.c: $(PROTO_FILES) services/common/proto_embed.sh
	@mkdir -p build/gen
	sh services/common/proto_embed.sh $(PROTO_FILES) > $@.tmp && mv $@.tmp $@

build/gen/proto_cmds.h: proto/commands.json services/common/proto_embed.sh
	@mkdir -p build/gen
	sh services/common/proto_embed.sh --header proto/commands.json > $@.tmp && mv $@.tmp $@

build/gen/proto_events.h: $(wildcard proto/events/*.json) services/common/proto_embed.sh
	@mkdir -p build/gen
	sh services/common/proto_embed.sh --events $(wildcard proto/events/*.json) > $@.tmp && mv $@.tmp $@

$(OUT)/obj/gen/proto_gen.o: build/gen/proto_gen.c build/gen/proto_cmds.h build/gen/proto_events.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-overlength-strings -c -o $@ $<

# -MMD: each object also depends on the headers it includes (the .d files)
$(OUT)/obj/%.o: %.c build/gen/proto_cmds.h build/gen/proto_events.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(OUT)/obj -name '*.d' 2>/dev/null)

$(LIBHARK): $(COMMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIBSVC): $(SVC_PART_OBJ)
	@rm -f $@
	ar rcs $@ $^

# One rule per program: its folder's .c files plus libhark (hark and the
# gateway also take the services' parts they use, e.g. survey_time.c;
# milestone takes survey_time.c, hark-loop the mailer's renderer for its previews).
define PROG_RULE
$(BINDIR)/$(call prog_name,$(1)): $(patsubst %.c,$(OUT)/obj/%.o,$(wildcard services/$(1)/*.c)) $(if $(filter hark gateway milestone intake loop,$(1)),$(LIBSVC)) $(LIBHARK)
	@mkdir -p $(BINDIR)
	$(CC) $(LDFLAGS) -o $$@ $$^ $(PKG_LIBS)
endef
$(foreach d,$(SERVICE_DIRS),$(eval $(call PROG_RULE,$(d))))

define TEST_PROG_RULE
$(BINDIR)/hark-$(1): $(patsubst %.c,$(OUT)/obj/%.o,$(wildcard tests/services/$(1)/*.c)) $(LIBHARK)
	@mkdir -p $(BINDIR)
	$(CC) $(LDFLAGS) -o $$@ $$^ $(PKG_LIBS)
endef
$(foreach d,$(TEST_SERVICE_DIRS),$(eval $(call TEST_PROG_RULE,$(d))))

$(OUT)/tests/%: $(OUT)/obj/tests/unit/%.o $(LIBSVC) $(LIBHARK)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# --- set-up -------------------------------------------------------------------
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
define APT_INSTALL
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  echo "postfix postfix/main_mailer_type select No configuration" | $(SUDO) debconf-set-selections; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call APT_INSTALL,$(DEB_BUILD))

deps-test: deps
	$(call APT_INSTALL,$(DEB_TEST))

deps-bench: deps-test
	$(call APT_INSTALL,$(DEB_BENCH))
	@# Node.js and npm for the nodemailer baseline of the mail benchmark; only
	@# when there is no node/npm at all (a NodeSource nodejs already has npm,
	@# and Debian's npm package would conflict with it)
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
	  echo "installing: nodejs npm"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm; \
	fi

# --- run ----------------------------------------------------------------------
run: deps
	$(MAKE) MODE=release build
	./bin/harkd -c $(CONFIG)

check-config: build
	./bin/hark -c $(CONFIG) check-config

# --- tests --------------------------------------------------------------------
# everything the tests run (names depend on MODE, so ask the sub-make)
test-build: build $(TEST_PROGS) $(UNIT_BINS)

san: deps
	$(MAKE) MODE=san test-build

test: deps-test
	$(MAKE) MODE=san test-build
	$(MAKE) MODE=san test-unit
	$(MAKE) MODE=san test-e2e

test-unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
	  echo "== $$t"; \
	  HARK_SHARED=$(CURDIR)/../shared $$t || fail=1; \
	done; \
	echo "== tests/unit/mime_roundtrip.py (Python's email parser reads what mime.c writes)"; \
	$(PYTHON) tests/unit/mime_roundtrip.py $(OUT)/tests/test_mime || fail=1; \
	echo "== tests/unit/render_check.py (composed messages, parsed by Python's email)"; \
	$(PYTHON) tests/unit/render_check.py $(OUT)/tests/test_render || fail=1; \
	exit $$fail

test-e2e:
	HARK_BIN=$(CURDIR)/$(BINDIR) HARK_ROOT=$(CURDIR) $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

# bench: the journal/gateway/SQLite figures (issue 2), then the mailer's
# against smtp-sink and a private Postfix (issue 3), then the survey's
# scheduling rate and NPS report time (issue 4), the milestone service's
# one day of messages among 1,000,000 customers (issue 5), intake's cases
# tagged per second (issue 6), the time hark-loop takes to request 100,000
# loop emails (issue 7); see tests/bench/README.md
bench: bench-journal bench-mail bench-survey bench-milestone bench-intake bench-loop

bench-journal: deps-bench
	$(MAKE) MODE=release build $(TEST_PROGS)
	HARK_BIN=$(CURDIR)/bin HARK_ROOT=$(CURDIR) $(PYTHON) tests/bench/run.py

bench-mail: deps-bench
	$(MAKE) MODE=release build
	HARK_BIN=$(CURDIR)/bin HARK_ROOT=$(CURDIR) $(PYTHON) tests/bench/mail_bench.py

bench-survey: deps-test
	$(MAKE) MODE=release build
	HARK_BIN=$(CURDIR)/bin HARK_ROOT=$(CURDIR) $(PYTHON) tests/bench/survey_bench.py

bench-milestone: deps-test
	$(MAKE) MODE=release build
	HARK_BIN=$(CURDIR)/bin HARK_ROOT=$(CURDIR) $(PYTHON) tests/bench/milestone_bench.py

bench-intake: deps-test
	$(MAKE) MODE=release build
	HARK_BIN=$(CURDIR)/bin HARK_ROOT=$(CURDIR) $(PYTHON) tests/bench/intake_bench.py

bench-loop: deps-test
	$(MAKE) MODE=release build
	HARK_BIN=$(CURDIR)/bin HARK_ROOT=$(CURDIR) $(PYTHON) tests/bench/loop_bench.py

clean:
	rm -rf build bin var
