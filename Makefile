# protectlambda — the two commands a newcomer needs:
#   make demo   install what is needed, build, and run the demo (protected functions blocked)
#   make test   install what is needed, build, and run every test
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test sanitize unit demo layer bench fuzz clean docs

all: build

deps:
	@bash scripts/setup.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j 2
	$(MAKE) sanitize

# The sanitizer run: clang, ASan+UBSan, libFuzzer targets (each fuzzes for a short budget
# as a test), and the unit and integration tests again under the sanitizers. Left out there:
# lint and load (run above), the layer and lean-wrapper tests (sanitizer builds do not make the
# lean wrap binary or the layer: guard.layer, emulator.layer, emulator.layer_tampered), and the
# wrap test (after the wrapper installs its seccomp filter, which denies ptrace, LeakSanitizer
# cannot stop threads and aborts at exit).
sanitize: deps
	CC=clang CXX=clang++ cmake -S . -B build-san -DPL_FUZZ=ON -DPL_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build build-san -j $(JOBS)
	cd build-san && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		ctest --output-on-failure -j 2 -L 'unit|fuzz|integration' -LE 'lint|load' \
		-E '^integration[.](guard[.](layer|wrap|wrap_lean)|emulator[.]layer(_tampered)?)$$'

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

demo: deps build
	bash examples/demo.sh $(BUILD)

layer: deps build
	bash packaging/make-layer.sh $(BUILD)

bench: deps build
	python3 bench/run --build $(BUILD) $(BENCH_ARGS)

fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B build-san -DPL_FUZZ=ON -DPL_SANITIZE=ON >/dev/null
	cmake --build build-san -j $(JOBS)
	bash tests/fuzz/run-long.sh build-san


clean:
	rm -rf $(BUILD) build-san

# regenerate the docs that come from code (the settings table)
docs: build
	bash scripts/gen-docs.sh $(BUILD)
