# Every target delegates to meson; `make deps` installs what is missing.
BUILD      ?= build
ASAN_BUILD ?= build-asan
MESON_OPTS ?=
# `make run` takes 8080 or the next free port; `make run PORT=N` insists on N.
PORT_ARG    = $(if $(filter command line environment,$(origin PORT)),--port $(PORT))
XVFB       := xvfb-run -a -s '-screen 0 1280x1024x24'

ifeq ($(CI),true)
  MESON_OPTS += -Dwerror=true
endif

# LeakSanitizer's tracer crashes when GnuTLS is dlopen()ed late
# (glib-networking); linking it at start-up avoids that.
ASAN_OPTS := -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true \
             -Dbrowser_tests=false \
             -Dc_link_args='-Wl,--no-as-needed -l:libgnutls.so.30'

.PHONY: all deps setup build run serve test test-asan unit coverage fuzz screenshots bench clean

all: build

deps:
	@./.ci/deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

setup: deps $(BUILD)/build.ninja

build: setup
	meson compile -C $(BUILD)

run: build
	./$(BUILD)/src/wirewatch $(PORT_ARG)

serve: build
	./$(BUILD)/src/wirewatch --headless $(PORT_ARG)

# The whole suite runs under one Xvfb so the window tests have a display.
test: build
	@rm -f $(BUILD)/meson-logs/testlog.json
	-$(XVFB) meson test -C $(BUILD) --print-errorlogs --num-processes 2 $(TESTS)
ifeq ($(CI),true)
	$(MAKE) test-asan
	@./.ci/summary $(BUILD) $(ASAN_BUILD)
else
	@./.ci/summary $(BUILD)
endif

# Unit and integration suites under AddressSanitizer + UBSan.
test-asan: deps
	@[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) $(ASAN_OPTS)
	meson compile -C $(ASAN_BUILD)
	@rm -f $(ASAN_BUILD)/meson-logs/testlog.json
	-$(XVFB) meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 \
	  --no-suite browser --no-suite slow $(TESTS)

# One layer: make unit SUITE=protocol
unit: build
	meson test -C $(BUILD) --print-errorlogs --suite $(SUITE)

coverage: deps
	@[ -f build-cov/build.ninja ] || meson setup build-cov -Db_coverage=true -Dbrowser_tests=false
	meson compile -C build-cov
	meson test -C build-cov --suite protocol
	gcovr -r . --filter src/protocol/ build-cov

# libFuzzer campaigns: FUZZ_TIME seconds per target (make fuzz FUZZ_TIME=1800).
FUZZ_TIME ?= 60
FUZZ_TARGETS := tests/fuzz/fuzz-frame:tests/fuzz/corpus/frame \
                tests/fuzz/fuzz-http:tests/fuzz/corpus/http \
                tests/fuzz/fuzz-inflate:tests/fuzz/corpus/inflate \
                tests/feed/fuzz-feed-protocol:tests/feed/corpus
fuzz: deps
	@[ -f build-fuzz/build.ninja ] || CC=clang-14 meson setup build-fuzz -Dfuzzing=true \
	  -Db_sanitize=address,undefined -Db_lundef=false -Dbrowser_tests=false
	ninja -C build-fuzz $(foreach t,$(FUZZ_TARGETS),$(firstword $(subst :, ,$(t))))
	@set -e; for t in $(FUZZ_TARGETS); do \
	  bin=build-fuzz/$${t%%:*}; seeds=$${t#*:}; work=build-fuzz/corpus-$$(basename $$bin); \
	  mkdir -p $$work; echo "== $$bin ($(FUZZ_TIME) s)"; \
	  $$bin -max_total_time=$(FUZZ_TIME) -error_exitcode=1 -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/ $$work $$seeds > $$work.log 2>&1 \
	    || { tail -40 $$work.log; exit 1; }; \
	  grep -E 'DONE|stat::number_of_executed_units|stat::average_exec_per_sec' $$work.log; \
	done

screenshots: build
	./tests/app/screenshots.sh $(BUILD)

bench: build
	./bench/compare

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-cov build-fuzz
