# protectlambda — the two commands a newcomer needs:
#   make demo   install what is needed, build, and run the demo (protected functions blocked)
#   make test   install what is needed, build, and run every test
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test unit demo layer bench fuzz asan clean format lint

all: build

deps:
	@bash scripts/setup.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j 2

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

demo: deps build
	bash examples/demo.sh $(BUILD)

layer: deps build
	bash packaging/make-layer.sh $(BUILD)

bench: deps build
	bash bench/run

fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DPL_FUZZ=ON -DPL_SANITIZE=ON
	cmake --build build-fuzz -j $(JOBS)
	bash tests/fuzz/run-long.sh build-fuzz

asan: deps
	cmake -S . -B build-asan -DPL_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j 2

clean:
	rm -rf $(BUILD) build-asan build-fuzz
