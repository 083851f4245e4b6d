# Thin wrappers around CMake/ctest. The README's two commands are `make run` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CTEST_ARGS ?= --output-on-failure --timeout 300

.PHONY: all deps build run test test-plain test-asan bench clean

all: build

deps:
	./scripts/install-deps.sh build

build:
	cmake -S . -B $(BUILD) -DDW_WERROR=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Install what is missing, build, run the agent on its embedded default configuration.
run: deps build
	./$(BUILD)/deploywatch run

# Install what is missing, build with warnings as errors, run the whole suite, then again
# under ASan+UBSan.
test:
	./scripts/install-deps.sh test
	$(MAKE) test-plain
	$(MAKE) test-asan

test-plain: build
	cd $(BUILD) && ctest $(CTEST_ARGS) -j $(JOBS)

test-asan:
	cmake -S . -B $(ASAN_BUILD) -DDW_WERROR=ON -DDW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_ARGS) -j $(JOBS)

BENCH_BUILD ?= build-bench
bench:
	./scripts/install-deps.sh bench
	cmake -S . -B $(BENCH_BUILD) -DDW_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BENCH_BUILD) -j $(JOBS)
	./bench/run.sh $(BENCH_BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD)
