# Fieldforms build, test and developer set-up. See DESIGN.md for what runs where.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
# deps installs system packages that build and test need; never run those
# alongside it under `make -j`.
.NOTPARALLEL:

GO ?= go

# C toolchain and headers for Fyne's GLFW driver (cgo) on Debian/Ubuntu.
APT_PACKAGES := gcc libc6-dev pkg-config libgl1-mesa-dev libxcursor-dev \
	libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev

# Azurite, the Azure Blob emulator tests start, pinned in tools/azurite.
AZURITE_DIR := tools/azurite
AZURITE_STAMP := $(AZURITE_DIR)/node_modules/.installed.stamp
AZURITE_BIN := $(CURDIR)/$(AZURITE_DIR)/node_modules/.bin/azurite-blob
# internal/azurite starts the binary this names; set it to use another one.
export AZURITE_BLOB ?= $(AZURITE_BIN)

.PHONY: deps apt-deps build run test bench crash fmt-check clean

deps: apt-deps $(AZURITE_STAMP)

apt-deps:
	@if ! command -v dpkg-query >/dev/null; then \
		echo "deps: no dpkg-query; install the equivalents of: $(APT_PACKAGES)" >&2; \
		exit 0; \
	fi; \
	missing=""; \
	for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: apt packages present"; exit 0; fi; \
	sudo=""; \
	if [ "$$(id -u)" -ne 0 ]; then \
		if command -v sudo >/dev/null; then sudo=sudo; \
		else echo "deps: need root or sudo to install:$$missing" >&2; exit 1; fi; \
	fi; \
	echo "deps: installing apt packages:$$missing"; \
	$$sudo apt-get update; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends --no-upgrade $$missing

# npm ci wipes node_modules, so the stamp inside it goes too; it is rebuilt
# only when the lock (or package.json) changes or node_modules is gone.
$(AZURITE_STAMP): $(AZURITE_DIR)/package.json $(AZURITE_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "deps: npm not found; install Node.js 20 or later" >&2; exit 1; }
	@echo "deps: installing azurite from $(AZURITE_DIR)/package-lock.json (npm ci)"
	cd $(AZURITE_DIR) && npm ci --no-audit --no-fund
	@test -x $(AZURITE_BIN) || { echo "deps: npm ci did not install $(AZURITE_BIN)" >&2; exit 1; }
	@touch $@

build:
	$(GO) build -o bin/fieldforms .

run: deps build
	./bin/fieldforms

test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

# The peer benchmark and the machine's physical limits live in shared/, beside this
# repository.
SHARED ?= $(abspath $(CURDIR)/../shared)
BENCH_N ?= 100000
FIGURES := grep -E '^[a-z0-9_]+ [-+0-9.e]+ [^ ]+$$'

# bench prints every figure as `name value unit`, one a line, measured in this run:
# ours next to the disk's fsync (in the same benchmark) and the machine's limits.
bench: deps
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "bench: generating $(BENCH_N) documents with $(SHARED)/bench/gen.js" >&2; \
	node $(SHARED)/bench/gen.js $(BENCH_N) > $$tmp/docs.ndjson 2>/dev/null; \
	echo "bench: machine limits ($(SHARED)/bench/limits)" >&2; \
	(cd $(SHARED)/bench/limits && LIMITS_DIR=$$tmp $(GO) run .) | $(FIGURES) | sed 's/^/limits_/'; \
	echo "bench: Fieldforms benchmarks" >&2; \
	if ! FIELDFORMS_BENCH_DATA=$$tmp/docs.ndjson $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./... > $$tmp/bench.log 2>&1; then \
		tail -50 $$tmp/bench.log >&2; exit 1; \
	fi; \
	$(FIGURES) $$tmp/bench.log

# crash kills a saving process 1,000 times and prints what was lost.
CRASH_CYCLES ?= 1000
crash: deps
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	if ! FIELDFORMS_CRASH_CYCLES=$(CRASH_CYCLES) FIELDFORMS_CRASH_FIGURES=1 $(GO) test -count=1 -timeout 90m -run '^TestCrash$$' ./store > $$tmp/crash.log 2>&1; then \
		tail -50 $$tmp/crash.log >&2; exit 1; \
	fi; \
	$(FIGURES) $$tmp/crash.log

fmt-check:
	@files=$$(find . -path ./.git -prune -o -path ./tools -prune -o -path ./bin -prune -o -name '*.go' -print); \
	unformatted=$$([ -z "$$files" ] || gofmt -l $$files); \
	if [ -n "$$unformatted" ]; then \
		echo "fmt-check: gofmt would change:" >&2; echo "$$unformatted" >&2; exit 1; \
	fi

clean:
	rm -rf bin
