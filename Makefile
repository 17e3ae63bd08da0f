# converge — plain Makefile, pkg-config for every library.
#
#   make                  build build/converge
#   make deps             install missing Debian packages (apt-get)
#   make test             unit + integration tests (SQLite files, PostgreSQL)
#   make demo             the TMWS scenario on an embedded SQLite file
#   make bench            benchmarks with ratios against raw SQL
#   make fuzz             libFuzzer on each reader of untrusted text
#                         (clang; FUZZ_TIME=seconds per target, default 60)
#   make install PREFIX=/usr/local
#   make SANITIZE=address,undefined test
#   make WERROR=1 ...     warnings are errors (CI)

CC      ?= cc
PREFIX  ?= /usr/local
PKGS    := yaml-0.1 sqlite3 libpq libcrypto jansson
# libpq's headers are used, but it is loaded with dlopen when a PostgreSQL
# URL is met (src/backend/pq.h), so it is not linked.
LINK_PKGS := $(filter-out libpq,$(PKGS))
DEB_PKGS := libyaml-dev libsqlite3-dev libpq-dev libcmocka-dev libssl-dev \
	    libjansson-dev pkg-config sqlite3 postgresql-15

ifdef SANITIZE
BUILD   := build/san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all \
	    -DCV_ARENA_MALLOC
else
BUILD   := build
SANFLAGS :=
endif

WARN    := -Wall -Wextra -Wpedantic -Wstrict-prototypes -Wvla -Wwrite-strings \
	   -Wformat=2 -Wno-format-nonliteral -Wshadow -Wmissing-prototypes
ifdef WERROR
WARN    += -Werror
endif
OPT     ?= -O2 -g

# Library flags come from pkg-config once the packages are there; the
# include below is remade (after `deps`) whenever it is missing.
NODEPS_GOALS := clean deps distclean
ifeq ($(filter $(NODEPS_GOALS),$(MAKECMDGOALS)),)
-include build/config.mk
endif

CFLAGS_ALL  = -std=c11 -D_GNU_SOURCE $(WARN) $(OPT) $(SANFLAGS) -Iinclude \
	      $(PKG_CFLAGS) -MMD -MP $(CFLAGS)
LDFLAGS_ALL = $(SANFLAGS) $(LDFLAGS)
LIBS_ALL    = $(PKG_LIBS) -lm

LIB_SRC := $(wildcard src/*.c src/kinds/*.c src/backend/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BUILD)/bench/bench_seed
# Fuzz targets: built with replay.c for `make test`, with libFuzzer for
# `make fuzz` (tests/fuzz/fuzz.h).
FUZZ_NAMES := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_COMMON := $(BUILD)/obj/tests/fuzz/scratch.o
REPLAY_BIN := $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)
FUZZ_CC   ?= clang
FUZZ_TIME ?= 60

.PHONY: all deps test unit integration demo bench fuzz fuzz-targets install \
	clean check-deps
all: $(BUILD)/converge

build/config.mk: Makefile
	@$(MAKE) --no-print-directory deps
	@mkdir -p build
	@printf 'PKG_CFLAGS := %s\nPKG_LIBS := %s\nCMOCKA_CFLAGS := %s\nCMOCKA_LIBS := %s\n' \
		"$$(pkg-config --cflags $(PKGS))" "$$(pkg-config --libs $(LINK_PKGS))" \
		"$$(pkg-config --cflags cmocka)" "$$(pkg-config --libs cmocka)" > $@

# Installs only what is missing; quiet and quick when everything is there.
deps:
	@missing=""; \
	for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null \
			|| { echo "make deps: apt-get failed" >&2; exit 1; }; \
	fi

$(BUILD)/libconverge.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/converge: $(CLI_OBJ) $(BUILD)/libconverge.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJ) $(BUILD)/libconverge.a $(LIBS_ALL)

$(BUILD)/obj/%.o: %.c build/config.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libconverge.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(CMOCKA_CFLAGS) -o $@ $< $(BUILD)/libconverge.a \
		$(LDFLAGS_ALL) $(CMOCKA_LIBS) $(LIBS_ALL)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libconverge.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libconverge.a $(LDFLAGS_ALL) $(LIBS_ALL)

$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay.o \
		$(FUZZ_COMMON) $(BUILD)/libconverge.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

# The same targets linked with libFuzzer, in a build of their own.
$(BUILD)/libfuzzer/%: $(BUILD)/obj/tests/fuzz/%.o $(FUZZ_COMMON) \
		$(BUILD)/libconverge.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -fsanitize=fuzzer -o $@ $^ $(LIBS_ALL)

# Objects of the fuzz targets are kept, not deleted as intermediates.
.SECONDARY: $(FUZZ_NAMES:%=$(BUILD)/obj/tests/fuzz/%.o) \
	$(BUILD)/obj/tests/fuzz/replay.o $(FUZZ_COMMON)

fuzz-targets: $(FUZZ_NAMES:%=$(BUILD)/libfuzzer/%)

fuzz: build/config.mk
	@$(MAKE) --no-print-directory BUILD=build/fuzz-clang CC=$(FUZZ_CC) \
		SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -DCV_ARENA_MALLOC" \
		fuzz-targets
	@sh tests/fuzz/run.sh fuzz build/fuzz-clang/libfuzzer $(FUZZ_TIME) build/fuzz-work

unit: $(UNIT_BIN)
integration: $(BUILD)/converge $(REPLAY_BIN)

test: $(BUILD)/converge $(UNIT_BIN) $(REPLAY_BIN)
	@BUILD=$(BUILD) CONVERGE=$(CURDIR)/$(BUILD)/converge sh tests/run.sh $(UNIT_BIN)

demo: $(BUILD)/converge
	@CONVERGE=$(CURDIR)/$(BUILD)/converge sh examples/tmws/demo.sh

bench: $(BUILD)/converge $(BENCH_BIN)
	@BUILD=$(BUILD) CONVERGE=$(CURDIR)/$(BUILD)/converge sh bench/run.sh

install: $(BUILD)/converge
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BUILD)/converge $(DESTDIR)$(PREFIX)/bin/converge
	install -m 0644 docs/converge.1 $(DESTDIR)$(PREFIX)/share/man/man1/converge.1

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(UNIT_BIN:=.d) \
	$(wildcard $(BUILD)/obj/tests/fuzz/*.d)
