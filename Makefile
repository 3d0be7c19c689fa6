# Hark - build, test and run.
#
#   make            build the release binaries into bin/
#   make run        install what is missing, build, start harkd with config/hark.conf
#   make test       install what is missing, build under ASan+UBSan, run unit and end-to-end tests
#   make man        the manual pages, generated ones included, into build/man/ (man -M build/man hark)
#   make golden     rewrite tests/golden/ (every mail template and locale) after a meant change
#   make fuzz       every libFuzzer target in tests/fuzz/ for FUZZ_SECONDS (60) each, clang
#   make bench      benchmarks (tests/bench/), optimised build
#   make soak       a chaos run of SOAK_SECONDS (300): load while every service and
#                   harkd are SIGKILLed in turn; fails on a lost event or mail
#                   (tests/soak/; make test runs an 18 s version)
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
             libesmtp-dev libunistring-dev nettle-dev libssl-dev tzdata openssl \
             libsodium-dev libgmime-3.0-dev liblinear-dev libnats-dev
DEB_TEST  := python3 python3-pytest python3-pytest-xdist python3-zmq python3-jsonschema \
             chromium chromium-driver python3-selenium \
             python3-aiosmtpd postfix curl valgrind \
             man-db groff-base nats-server
DEB_BENCH := wrk
DEB_FUZZ  := clang libclang-rt-dev

PKGS    := libzmq sqlite3 libmicrohttpd jansson inih libcmark libesmtp-1.0 nettle openssl \
           libsodium gmime-3.0 libnats
# Walls: every program sees common/ and the generated headers; its own
# folder is added per object below (SVC_CFLAGS), so no program includes
# another's header (tests/walls.sh checks the sources too).
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g \
               -Iservices/common -Ibuild/gen

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
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lunistring -llinear -ldl -lm -lpthread
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

# svc_parts - a service's objects but its main file (what its unit tests link)
svc_parts = $(patsubst %.c,$(OUT)/obj/%.o,$(filter-out services/$(1)/$(1).c,$(wildcard services/$(1)/*.c)))

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_NAMES := $(patsubst tests/unit/%.c,%,$(UNIT_SRC))
UNIT_BINS  := $(addprefix $(OUT)/tests/,$(UNIT_NAMES))

# A unit test tests common/ or the parts of one service: test_<service>_*
# by its name, or as listed here.  It sees that service's folder only.
UNIT_SVC_test_render := mailer
UNIT_SVC_test_smtp   := mailer
unit_svc = $(or $(UNIT_SVC_$(1)),$(filter $(SERVICE_DIRS),$(word 2,$(subst _, ,$(1)))))

# Fuzz targets: tests/fuzz/fuzz_<name>.c, seeds in tests/fuzz/<name>/.  The
# parts of a service a target tests are listed here (the rest is libhark).
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_PARTS_journal_scan := services/journal/journal_scan.c
FUZZ_PARTS_reasons      := services/intake/intake_match.c
FUZZ_PARTS_inbox_parse  := services/inbox/inbox_parse.c services/inbox/inbox_text.c
FUZZ_PARTS_tagger       := services/intake/intake_tagger.c services/intake/intake_match.c
# ...and the one service folder each sees (the walls, as for unit tests)
FUZZ_SVC_journal_scan   := journal
FUZZ_SVC_reasons        := intake
FUZZ_SVC_inbox_parse    := inbox
FUZZ_SVC_tagger         := intake
FUZZ_REPLAYS := $(patsubst %,$(OUT)/fuzz/replay_%,$(FUZZ_NAMES))
FUZZ_SECONDS ?= 60

PROTO_FILES := $(wildcard proto/events/*.json) proto/commands.json proto/envelope.json

.PHONY: golden fuzz fuzz-build deps-fuzz deps-node bench-journal bench-mail bench-survey bench-milestone bench-intake bench-tagger bench-loop bench-console bench-inbox bench-customers bench-import bench-backup bench-privacy bench-dashboard all build run test test-build test-unit test-e2e bench soak deps deps-test clean \
        check-config check-walls san man soak-jetstream
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
	$(CC) $(CFLAGS) $(SVC_CFLAGS) -MMD -MP -c -o $@ $<

# each service's objects see its own folder besides common/
$(foreach d,$(SERVICE_DIRS),$(eval $(OUT)/obj/services/$(d)/%.o: SVC_CFLAGS := -Iservices/$(d)))

-include $(shell find $(OUT)/obj -name '*.d' 2>/dev/null)

$(LIBHARK): $(COMMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

# One rule per program: its folder's .c files plus libhark (common/), and
# nothing of another program's.
define PROG_RULE
$(BINDIR)/$(call prog_name,$(1)): $(patsubst %.c,$(OUT)/obj/%.o,$(wildcard services/$(1)/*.c)) $(LIBHARK)
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

# One rule per unit test: its object, the parts of the service it tests
# (unit_svc), libhark.
define UNIT_RULE
$(OUT)/obj/tests/unit/$(1).o: SVC_CFLAGS := $(if $(2),-Iservices/$(2))
$(OUT)/tests/$(1): $(OUT)/obj/tests/unit/$(1).o $(if $(2),$(call svc_parts,$(2))) $(LIBHARK)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS) -o $$@ $$^ $(PKG_LIBS)
endef
$(foreach t,$(UNIT_NAMES),$(eval $(call UNIT_RULE,$(t),$(call unit_svc,$(t)))))

# replay_<name>: a fuzz target with a plain main() (tests/fuzz/replay.c) in
# place of libFuzzer, built like the unit tests; `make test` runs its corpus
define FUZZ_REPLAY_RULE
$(OUT)/obj/tests/fuzz/fuzz_$(1).o: SVC_CFLAGS := $(if $(FUZZ_SVC_$(1)),-Iservices/$(FUZZ_SVC_$(1)))
$(OUT)/fuzz/replay_$(1): $(OUT)/obj/tests/fuzz/fuzz_$(1).o $(OUT)/obj/tests/fuzz/replay.o $(patsubst %.c,$(OUT)/obj/%.o,$(FUZZ_PARTS_$(1))) $(LIBHARK)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS) -o $$@ $$^ $(PKG_LIBS)
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call FUZZ_REPLAY_RULE,$(n))))

# --- fuzzing (clang's libFuzzer; not needed by make test) ----------------------
FUZZ_OUT    := build/fuzz
FUZZ_CC     := clang
FUZZ_CFLAGS := $(CFLAGS_BASE) $(PKG_CFLAGS) -O1 -fno-omit-frame-pointer \
               -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_COMMON := $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(COMMON_SRC)) $(FUZZ_OUT)/obj/gen/proto_gen.o

$(FUZZ_OUT)/obj/gen/proto_gen.o: build/gen/proto_gen.c build/gen/proto_cmds.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wno-overlength-strings -c -o $@ $<

$(FUZZ_OUT)/obj/%.o: %.c build/gen/proto_cmds.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(SVC_CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(FUZZ_OUT)/obj -name '*.d' 2>/dev/null)

$(FUZZ_OUT)/libhark.a: $(FUZZ_COMMON)
	@rm -f $@
	ar rcs $@ $^

$(foreach d,$(SERVICE_DIRS),$(eval $(FUZZ_OUT)/obj/services/$(d)/%.o: SVC_CFLAGS := -Iservices/$(d)))

define FUZZ_RULE
$(FUZZ_OUT)/obj/tests/fuzz/fuzz_$(1).o: SVC_CFLAGS := $(if $(FUZZ_SVC_$(1)),-Iservices/$(FUZZ_SVC_$(1)))
$(FUZZ_OUT)/fuzz_$(1): $(FUZZ_OUT)/obj/tests/fuzz/fuzz_$(1).o $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(FUZZ_PARTS_$(1))) $(FUZZ_OUT)/libhark.a
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $$@ $$^ $(PKG_LIBS)
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call FUZZ_RULE,$(n))))

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

AXE_INSTALLED := tests/e2e/axe/node_modules/.package-lock.json
deps-test: deps $(AXE_INSTALLED)
	$(call APT_INSTALL,$(DEB_TEST))

deps-fuzz: deps
	$(call APT_INSTALL,$(DEB_FUZZ))

deps-bench: deps-test deps-node
	$(call APT_INSTALL,$(DEB_BENCH))

# Node.js and npm: axe-core for the accessibility tests, and the nodemailer
# baseline of the mail benchmark.  Only when there is no node/npm at all (a
# NodeSource nodejs already has npm, and Debian's npm package would conflict
# with it).
deps-node:
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
	  echo "installing: nodejs npm"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm; \
	fi

# axe-core, the version tests/e2e/axe/package-lock.json pins, into
# tests/e2e/axe/node_modules/ (not in git): again when the lock file is newer
$(AXE_INSTALLED): tests/e2e/axe/package-lock.json tests/e2e/axe/package.json | deps-node
	cd tests/e2e/axe && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# --- run ----------------------------------------------------------------------
run: deps
	$(MAKE) MODE=release build
	./bin/harkd -c $(CONFIG)

check-config: build
	./bin/hark -c $(CONFIG) check-config

# --- tests --------------------------------------------------------------------
# everything the tests run (names depend on MODE, so ask the sub-make)
test-build: build $(TEST_PROGS) $(UNIT_BINS) $(FUZZ_REPLAYS)

san: deps
	$(MAKE) MODE=san test-build

# make test builds on every core when not given -j itself (a clean ASan
# build one file at a time was minutes of its 15); `make man` and its groff
# warnings are checked by tests/e2e/test_docs.py, which runs it, so it is not
# run here a second time
TEST_JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc))
test: deps-test check-walls
	$(MAKE) $(TEST_JOBS) MODE=san test-build
	$(MAKE) MODE=san test-unit
	$(MAKE) MODE=san test-e2e

# check-walls: no file under services/<A>/ includes a header of services/<B>/
check-walls:
	sh tests/walls.sh .

test-unit: $(UNIT_BINS) $(FUZZ_REPLAYS)
	@fail=0; \
	echo "== tests/walls.sh (no service includes another's header)"; \
	sh tests/walls.sh . || fail=1; \
	echo "== tests/unit/walls_test.sh (the walls check fails on a bad include)"; \
	sh tests/unit/walls_test.sh tests/walls.sh || fail=1; \
	for t in $(UNIT_BINS); do \
	  echo "== $$t"; \
	  $$t || fail=1; \
	done; \
	echo "== tests/unit/mime_roundtrip.py (Python's email parser reads what mime.c writes)"; \
	$(PYTHON) tests/unit/mime_roundtrip.py $(OUT)/tests/test_mime || fail=1; \
	echo "== tests/unit/render_check.py (composed messages, parsed by Python's email)"; \
	$(PYTHON) tests/unit/render_check.py $(OUT)/tests/test_render || fail=1; \
	echo "== tests/unit/golden.py (every template and locale against tests/golden/)"; \
	$(PYTHON) tests/unit/golden.py $(OUT)/tests/test_render || fail=1; \
	for n in $(FUZZ_NAMES); do \
	  echo "== tests/fuzz/$$n/ (the fuzz corpus, replayed once)"; \
	  $(OUT)/fuzz/replay_$$n tests/fuzz/$$n 2>/dev/null || { \
	    $(OUT)/fuzz/replay_$$n tests/fuzz/$$n 2>&1 | tail -30; fail=1; }; \
	done; \
	exit $$fail

# fuzz: each target for FUZZ_SECONDS, from its checked-in seeds; what it
# learns goes to build/fuzz/corpus/<name>/, a crash to build/fuzz/crash-<name>-*
# (copy one into tests/fuzz/<name>/ with its fix, and it is replayed for good)
fuzz-build: $(patsubst %,$(FUZZ_OUT)/fuzz_%,$(FUZZ_NAMES))

fuzz: deps-fuzz
	$(MAKE) fuzz-build
	@fail=0; for n in $(FUZZ_NAMES); do \
	  echo "== fuzz_$$n for $(FUZZ_SECONDS) s"; \
	  mkdir -p $(FUZZ_OUT)/corpus/$$n; \
	  $(FUZZ_OUT)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_OUT)/crash-$$n- $(FUZZ_OUT)/corpus/$$n tests/fuzz/$$n \
	    > $(FUZZ_OUT)/$$n.log 2>&1 || { fail=1; tail -40 $(FUZZ_OUT)/$$n.log; }; \
	  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE' $(FUZZ_OUT)/$$n.log; \
	done; exit $$fail

# golden: after a meant change to a template, the layout, the renderer or the
# composer, write the new tests/golden/ (review its diff before committing)
golden: $(OUT)/tests/test_render
	$(PYTHON) tests/unit/golden.py $(OUT)/tests/test_render --update

# two test files at a time (each file in order, on one worker: a file's tests
# may build on each other): the tests wait on processes, mail and browsers
# far more than they compute, and one at a time took 13 of make test's 15
# minutes on the 2-core machine
test-e2e:
	HARK_BIN=$(CURDIR)/$(BINDIR) HARK_ROOT=$(CURDIR) $(PYTHON) -m pytest -q -p no:cacheprovider \
	    -n 2 --dist loadfile tests/e2e

# bench: the journal/gateway/SQLite figures, then the mailer's against
# smtp-sink and a private Postfix, then the survey's scheduling rate and NPS
# report time, the milestone service's one day of messages among 1,000,000
# customers, intake's cases tagged per second, the time hark-loop takes to
# request 100,000 loop emails, Hark Console's inbox and case page over
# 100,000 cases, the mail hark-inbox reads a minute, the tagger's texts a
# second, `hark backup` and `hark rebuild all` of 1,000,000 events, the
# dashboard over 1,000,000 answers and 100,000 cases; see tests/bench/README.md
bench: bench-journal bench-mail bench-survey bench-milestone bench-intake bench-tagger \
       bench-loop bench-console bench-inbox bench-customers bench-import bench-backup \
       bench-dashboard

bench-journal: deps-bench
	$(MAKE) MODE=release build $(TEST_PROGS)
	HARK_BIN=$(CURDIR)/bin HARK_ROOT=$(CURDIR) $(PYTHON) tests/bench/$(if $(filter jetstream,$(ENGINE)),engine_bench.py,run.py)

# bench-privacy: journal throughput with [privacy] encrypt on and off, one
# erasure among PRIVACY_CUSTOMERS (200000) customers
.PHONY: bench-privacy
bench-privacy: deps-bench
	$(MAKE) MODE=release build
	HARK_BIN=$(CURDIR)/bin HARK_ROOT=$(CURDIR) $(PYTHON) tests/bench/privacy_bench.py

# bench-mail needs what deps-bench adds (smtp-sink, Postfix, Node.js)
BENCH_PY := mail survey milestone intake tagger loop console inbox customers import backup \
            dashboard
$(BENCH_PY:%=bench-%): bench-%: deps-test
	$(MAKE) MODE=release build
	HARK_BIN=$(CURDIR)/bin HARK_ROOT=$(CURDIR) $(PYTHON) tests/bench/$*_bench.py

bench-mail: deps-bench

# bench-console: Hark Console's support pages, and the marketers' dashboard,
# customer search and CSV import (each its own target too)
bench-console: bench-dashboard bench-customers bench-import

# soak: tests/soak/soak.py against the sanitizer build for SOAK_SECONDS of
# chaos, then its counts (tests/soak/results.json); at most about ten
# minutes in all, see tests/soak/README.md.  Then the long e2e forms
# (HARK_SOAK=1): backup, restore, rebuild and erasure as one chain.
SOAK_SECONDS ?= 300
soak: deps-test
	$(MAKE) MODE=san build
	HARK_BIN=$(CURDIR)/build/san/bin HARK_ROOT=$(CURDIR) $(PYTHON) tests/soak/soak.py \
	  --seconds $(SOAK_SECONDS)
	HARK_SOAK=1 HARK_BIN=$(CURDIR)/build/san/bin HARK_ROOT=$(CURDIR) $(PYTHON) -m pytest -q \
	  -p no:cacheprovider tests/e2e/test_backup.py -k whole_chain
	$(MAKE) soak-jetstream

# soak-jetstream: the journal on a three-node nats-server cluster for
# JETSTREAM_SOAK_SECONDS under load, its leader and its server killed in
# turn, a node kept down; figures under "jetstream" in tests/soak/results.json
JETSTREAM_SOAK_SECONDS ?= 180
soak-jetstream: deps-test
	$(MAKE) MODE=san build
	HARK_BIN=$(CURDIR)/build/san/bin HARK_ROOT=$(CURDIR) $(PYTHON) tests/soak/jetstream_soak.py \
	  --seconds $(JETSTREAM_SOAK_SECONDS)

# --- manual -------------------------------------------------------------------
# Hand-written pages live beside what they describe (services/<name>/*.[1-8]);
# hark.conf(5) is generated from the settings table and hark-events(7) from
# proto/, so neither can drift.  build/man/manN/ is a man tree (man -M build/man
# hark.conf); build/man/PAGE.txt is each page as man shows it, 80 columns wide.
MAN_DIR   := build/man
MAN_SRC   := $(wildcard services/*/*.[1-8])
man_path   = $(MAN_DIR)/man$(subst .,,$(suffix $(1)))/$(notdir $(1))
MAN_PAGES := $(foreach p,$(MAN_SRC),$(call man_path,$(p))) \
             $(MAN_DIR)/man5/hark.conf.5 $(MAN_DIR)/man7/hark-events.7

# A page groff warns about fails the build, as a compiler warning does.
man: $(MAN_PAGES)
	@fail=0; for p in $(MAN_PAGES); do \
	  MANWIDTH=80 man --warnings=w -E UTF-8 -l $$p > $(MAN_DIR)/$$(basename $$p).txt \
	    2> $(MAN_DIR)/warnings || fail=1; \
	  if [ -s $(MAN_DIR)/warnings ]; then echo "$$p:"; cat $(MAN_DIR)/warnings; fail=1; fi; \
	done; rm -f $(MAN_DIR)/warnings; \
	[ $$fail = 0 ] && echo "man: $(words $(MAN_PAGES)) pages in $(MAN_DIR)/"

define MAN_RULE
$(call man_path,$(1)): $(1)
	@mkdir -p $$(dir $$@)
	cp $$< $$@
endef
$(foreach p,$(MAN_SRC),$(eval $(call MAN_RULE,$(p))))

# config_doc.c and the table alone, without sanitizers, whatever MODE is
$(MAN_DIR)/config-man: services/common/config_doc.c services/common/config_doc.h \
                       services/common/config_table.c services/common/config.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -DCONFIG_DOC_MAIN -Iservices/common \
	  -o $@ services/common/config_doc.c services/common/config_table.c

$(MAN_DIR)/man5/hark.conf.5: $(MAN_DIR)/config-man
	@mkdir -p $(dir $@)
	$(MAN_DIR)/config-man > $@.tmp && mv $@.tmp $@

$(MAN_DIR)/man7/hark-events.7: proto/events_man.py $(PROTO_FILES)
	@mkdir -p $(dir $@)
	$(PYTHON) proto/events_man.py proto > $@.tmp && mv $@.tmp $@

clean:
	rm -rf build bin var
