# StreamForge: the two commands a new user needs are `make demo` and `make test`.
# Both install what is missing (scripts/bootstrap), configure and build first.
SHELL := /bin/bash
JOBS ?= 2
BUILD := build
BIN := $(BUILD)/bin/streamforge

.PHONY: all bootstrap configure build demo demo-live test test-unit test-integration test-e2e test-fuzz \
        test-browser \
        asan bench format clean

all: build

bootstrap:
	@bash scripts/bootstrap

$(BUILD)/build.ninja: | bootstrap
	cmake --preset dev

configure: $(BUILD)/build.ninja

build: bootstrap configure
	cmake --build --preset dev -j $(JOBS)

# Runs the main job on the embedded default (memory bus, SQLite, in-process workers).
demo: build
	bash scripts/demo

# A few seconds of live BTCUSDT trades and order book from the simulator's streams.
demo-live: build
	bash scripts/demo live

# Every test: unit, integration, e2e, fuzz and browser (labels), against real processes on
# 127.0.0.1.
test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) --timeout 300

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -L unit

test-integration: build
	ctest --test-dir $(BUILD) --output-on-failure -L integration

test-e2e: build
	ctest --test-dir $(BUILD) --output-on-failure -L e2e

# Schema-driven fuzzing of the manager's API (Schemathesis), about two minutes.
test-fuzz: build
	ctest --test-dir $(BUILD) --output-on-failure -L fuzz

# The web UI in Debian's chromium (playwright-core): workflows, data, graphs, token, load.
test-browser: build
	ctest --test-dir $(BUILD) --output-on-failure -L browser

# AddressSanitizer + UBSan build and unit tests.
asan: bootstrap
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --test-dir build-asan --output-on-failure -j $(JOBS) -L unit

bench: build
	bash bench/run

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD) build-asan build-release
