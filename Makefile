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

.PHONY: deps apt-deps build run test bench crash server-crash robust fmt-check clean
.PHONY: windows wine-test ios-check mingw-deps wine-deps

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

test: deps ios-check
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

# The peer benchmark and the machine's physical limits live in shared/, beside this
# repository.
SHARED ?= $(abspath $(CURDIR)/../shared)
BENCH_N ?= 100000
FIGURES := grep -E '^[a-z0-9_]+ [-+0-9.e]+ [^ ]+$$'

# BENCH picks the benchmarks (a go test -bench pattern; all by default), e.g.
# `make bench BENCH='Rebuild|SyncFigures'` for the replication figures beside the peer.
BENCH ?= .

# The PouchDB peer runs in the same `make bench` (about 10 minutes at 100,000
# documents); PEER=0 skips it, and with it pouch_push_*_s and push_speedup_vs_pouch.
PEER ?= 1

# bench prints every figure as `name value unit`, one a line, measured in this run:
# ours next to the disk's fsync (in the same benchmark), the machine's limits and the
# PouchDB peer (peer-bench.sh: its pouch_* figures as it prints them, its other lines
# as peer_*). pouch_push_<N>_s is the fastest of PouchDB's three full pushes to an
# empty database (default batch, batch 500, keep-alive), and push_speedup_vs_pouch
# that over our push_<N>_s (N as 100k for 100,000).
bench: deps
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	n=$(BENCH_N); if [ $$((n % 1000)) -eq 0 ]; then lbl=$$((n / 1000))k; else lbl=$$n; fi; \
	echo "bench: generating $(BENCH_N) documents with $(SHARED)/bench/gen.js" >&2; \
	node $(SHARED)/bench/gen.js $(BENCH_N) > $$tmp/docs.ndjson 2>/dev/null; \
	echo "bench: machine limits ($(SHARED)/bench/limits)" >&2; \
	(cd $(SHARED)/bench/limits && LIMITS_DIR=$$tmp $(GO) run .) | $(FIGURES) | sed 's/^/limits_/'; \
	echo "bench: Fieldforms benchmarks" >&2; \
	if ! FIELDFORMS_BENCH_DATA=$$tmp/docs.ndjson FIELDFORMS_BENCH_N=$(BENCH_N) $(GO) test -run '^$$' -bench '$(value BENCH)' -benchtime 1x -timeout 60m ./... > $$tmp/bench.log 2>&1; then \
		tail -50 $$tmp/bench.log >&2; exit 1; \
	fi; \
	$(FIGURES) $$tmp/bench.log | tee $$tmp/figures; \
	if [ "$(PEER)" = 0 ]; then echo "bench: PEER=0: no PouchDB peer, no push_speedup_vs_pouch" >&2; exit 0; fi; \
	echo "bench: PouchDB peer ($(SHARED)/bench/peer-bench.sh $(BENCH_N); about 10 minutes at 100000)" >&2; \
	if ! PEER_BENCH_TMP=$$tmp bash $(SHARED)/bench/peer-bench.sh $(BENCH_N) > $$tmp/peer.log 2> $$tmp/peer.err; then \
		tail -30 $$tmp/peer.err >&2; exit 1; \
	fi; \
	$(FIGURES) $$tmp/peer.log | awk '$$1 !~ /^pouch_/ { $$1 = "peer_" $$1 } { print }' | tee -a $$tmp/figures; \
	awk -v lbl="$$lbl" ' \
		$$1 == "push_" lbl "_s" { ours = $$2 + 0 } \
		$$1 == "rebuild_" lbl "_s" { rebuild = $$2 + 0 } \
		$$1 == "rebuild_5dev_" lbl "_s" { five = $$2 + 0 } \
		$$1 ~ /^pouch_push_(default|b500|default_keepalive)_ms$$/ && (!seen || $$2 + 0 < best) { best = $$2 + 0; seen = 1 } \
		END { \
			if (!ours || !seen) { print "bench: no push_" lbl "_s or pouch_push_*_ms figure: no push_speedup_vs_pouch" > "/dev/stderr"; exit 1 } \
			printf "pouch_push_%s_s %.4g s\n", lbl, best / 1000; \
			printf "push_speedup_vs_pouch %.3g x\n", best / 1000 / ours; \
			if (rebuild) printf "rebuild_speedup_vs_pouch %.3g x\n", best / 1000 / rebuild; \
			if (rebuild && five) printf "rebuild_5dev_over_1dev %.3g x\n", five / rebuild \
		}' $$tmp/figures

# crash kills a saving process 1,000 times and prints what was lost.
CRASH_CYCLES ?= 1000
crash: deps
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	if ! FIELDFORMS_CRASH_CYCLES=$(CRASH_CYCLES) FIELDFORMS_CRASH_FIGURES=1 $(GO) test -v -count=1 -timeout 90m -run '^TestCrash$$' ./store > $$tmp/crash.log 2>&1; then \
		tail -50 $$tmp/crash.log >&2; exit 1; \
	fi; \
	$(FIGURES) $$tmp/crash.log

# server-crash kills a server process while a device pushes, SERVER_CRASH_CYCLES
# times, and prints server_crash_cycles and server_crash_lost_acked.
SERVER_CRASH_CYCLES ?= 200
server-crash:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	if ! FIELDFORMS_CRASH_CYCLES=$(SERVER_CRASH_CYCLES) $(GO) test -count=1 -timeout 90m -run '^$$' -bench '^BenchmarkServerCrash$$' -benchtime 1x ./server > $$tmp/crash.log 2>&1; then \
		tail -50 $$tmp/crash.log >&2; exit 1; \
	fi; \
	$(FIGURES) $$tmp/crash.log

# robust damages copies of a real device replica and a real server's tenant file at
# hundreds of offsets (bit flips, zeroed pages, cuts, deletion, journal faults), runs
# the commands and the server on each (robust_test.go), and prints robust_cases,
# robust_crashes, robust_silent_losses and robust_clear_refusals; it fails on any
# crash or silent loss. A short run of the same test is part of `make test`.
robust: deps
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	if ! FIELDFORMS_ROBUST=full $(GO) test -v -count=1 -timeout 90m -run '^TestRobustDamage$$' . > $$tmp/robust.log 2>&1; then \
		grep -E 'robust_|robust_test.go' $$tmp/robust.log | tail -60 >&2; exit 1; \
	fi; \
	$(FIGURES) $$tmp/robust.log

fmt-check:
	@files=$$(find . -path ./.git -prune -o -path ./tools -prune -o -path ./bin -prune -o -name '*.go' -print); \
	unformatted=$$([ -z "$$files" ] || gofmt -l $$files); \
	if [ -n "$$unformatted" ]; then \
		echo "fmt-check: gofmt would change:" >&2; echo "$$unformatted" >&2; exit 1; \
	fi

clean:
	rm -rf bin

# --- Platforms: Windows cross-build, the store's tests under Wine, iOS compile check ---
# Facts behind these targets: ../shared/PLATFORM.md.

MINGW_CC := x86_64-w64-mingw32-gcc
MINGW_PACKAGES := gcc-mingw-w64-x86-64
# Debian's plain wine64 (8.0): no wine32, so no i386 architecture is needed. It puts
# the loader in /usr/lib/wine, not on PATH (the `wine` package would add the wrapper).
WINE_PACKAGES := wine64
WINE ?= $(or $(shell command -v wine64 2>/dev/null),/usr/lib/wine/wine64)

# apt-ensure installs the Debian packages in $(2) that are missing, and says which;
# without dpkg it only checks that the command $(3) is there. $(1) names the caller.
apt-ensure = \
	if ! command -v dpkg-query >/dev/null; then \
		command -v $(3) >/dev/null && exit 0; \
		echo "$(1): no dpkg-query and no $(3); install the equivalents of: $(2)" >&2; exit 1; \
	fi; \
	missing=""; \
	for p in $(2); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "$(1): apt packages present: $(2)"; exit 0; fi; \
	sudo=""; \
	if [ "$$(id -u)" -ne 0 ]; then \
		if command -v sudo >/dev/null; then sudo=sudo; \
		else echo "$(1): need root or sudo to install:$$missing" >&2; exit 1; fi; \
	fi; \
	echo "$(1): installing apt packages:$$missing"; \
	$$sudo apt-get update; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends --no-upgrade $$missing

mingw-deps:
	@$(call apt-ensure,mingw-deps,$(MINGW_PACKAGES),$(MINGW_CC))

wine-deps:
	@$(call apt-ensure,wine-deps,$(WINE_PACKAGES),$(WINE))

# windows cross-builds the GUI (cgo, for Fyne's GLFW driver) and, once it exists and
# builds, the server: bin/fieldforms.exe, bin/fieldformsd.exe.
windows: mingw-deps
	CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=$(MINGW_CC) $(GO) build -ldflags "-H=windowsgui" -o bin/fieldforms.exe .
	@if ! ls cmd/fieldformsd/*.go >/dev/null 2>&1; then \
		echo "windows: skipping cmd/fieldformsd: no Go files yet"; exit 0; \
	fi; \
	echo "windows: building bin/fieldformsd.exe"; \
	if ! CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build -o bin/fieldformsd.exe ./cmd/fieldformsd 2>bin/fieldformsd.exe.log; then \
		cat bin/fieldformsd.exe.log >&2; \
		echo "windows: skipping cmd/fieldformsd: it does not build for windows (above)" >&2; \
	fi; \
	rm -f bin/fieldformsd.exe.log

# wine-test runs the store's tests as a Windows test binary under Wine, so bbolt's
# Windows code (LockFileEx locking, CreateFileMapping mmap) and the journal's
# FlushFileBuffers run for real. Go >= 1.24 needs ProcessPrng from
# bcryptprimitives.dll, which Wine 8.0 lacks: internal/winetest builds a test-only one.
# Go's runtime loads it with LOAD_LIBRARY_SEARCH_SYSTEM32, so it goes into the private
# prefix's system32; next to the .exe it is never found. And Wine 8.0 does not implement
# the call Go's os.RemoveAll deletes with, so every t.TempDir cleanup would fail:
# internal/winetest/removeall_wine_test.go.in, added to the binary with -overlay, turns
# on Go's own fallback under Wine only (see that file).
# Skipped, because they cannot work on Windows:
#   TestCrash: it asserts the child died of a signal (WaitStatus.Signaled); on Windows
#     Kill is TerminateProcess, an exit code, never a signal. TestJournalCrash and the
#     lock test's second process still cover replay and locking across processes.
WINE_TEST_SKIP ?= ^TestCrash$$
WINE_TEST_RUN ?= .
WINE_TEST_TIMEOUT ?= 15m
WINESERVER ?= $(or $(shell command -v wineserver 2>/dev/null),/usr/lib/wine/wineserver)
wine-test: mingw-deps wine-deps
	@mkdir -p bin
	@printf '{"Replace":{"%s":"%s"}}\n' "$(CURDIR)/store/zz_wine_removeall_windows_test.go" \
		"$(CURDIR)/internal/winetest/removeall_wine_test.go.in" > bin/wine-overlay.json
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) test -c -overlay bin/wine-overlay.json \
		-ldflags=-checklinkname=0 -o bin/store.test.exe ./store
	$(MINGW_CC) -shared -O2 -Wall -o bin/bcryptprimitives.dll internal/winetest/bcryptprimitives.c -ladvapi32
	@tmp=$$(mktemp -d); \
	export WINEPREFIX=$$tmp/prefix WINEDEBUG=-all WINEDLLOVERRIDES='mscoree,mshtml=' DISPLAY=; \
	trap '"$(WINESERVER)" -k 2>/dev/null || true; rm -rf "$$tmp"' EXIT; \
	echo "wine-test: creating a private WINEPREFIX in $$tmp/prefix"; \
	if ! "$(WINE)" wineboot --init >$$tmp/wineboot.log 2>&1; then cat $$tmp/wineboot.log >&2; exit 1; fi; \
	"$(WINESERVER)" -w; \
	cp bin/bcryptprimitives.dll "$$WINEPREFIX/drive_c/windows/system32/"; \
	echo "wine-test: in store/: $(WINE) ../bin/store.test.exe -test.run '$(WINE_TEST_RUN)' -test.skip '$(WINE_TEST_SKIP)'"; \
	st=0; (cd store && "$(WINE)" ../bin/store.test.exe -test.count=1 -test.v -test.timeout=$(WINE_TEST_TIMEOUT) \
		-test.run '$(WINE_TEST_RUN)' -test.skip '$(WINE_TEST_SKIP)') 2>&1 | tee $$tmp/test.log || st=$$?; \
	echo "wine-test: not run, by -test.skip: $(WINE_TEST_SKIP) (why: see the Makefile)"; \
	printf 'wine-test: %s passed, %s failed, %s skipped\n' "$$(grep -c '^--- PASS' $$tmp/test.log || true)" \
		"$$(grep -c '^--- FAIL' $$tmp/test.log || true)" "$$(grep -c '^--- SKIP' $$tmp/test.log || true)"; \
	exit $$st

# ios-check compiles the packages the iPad app shares with the server for iOS; Fyne's
# own packages need cgo and Xcode there, so the app itself is built on macOS only.
# vet also checks the test files, and with cgo off it stops at "ios/arm64 requires
# external (cgo) linking"; with cgo on and CC=false it vets, and would fail if any of
# these packages needed a C compiler.
IOS_PACKAGES := ./form ./store ./sync/...
ios-check:
	GOOS=ios GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(IOS_PACKAGES)
	GOOS=ios GOARCH=arm64 CGO_ENABLED=1 CC=false $(GO) vet $(IOS_PACKAGES)

# --- Screenshots for the README ---

SCREENSHOT_PACKAGES := xvfb imagemagick xdotool
.PHONY: screenshots screenshot-deps

screenshot-deps:
	@$(call apt-ensure,screenshot-deps,$(SCREENSHOT_PACKAGES),Xvfb)

# screenshots fills a fresh replica with sample forms through the headless commands,
# runs the real app on it under Xvfb at desktop (1280x800) and tablet sizes (1024x768,
# and 768x1024 upright), drives it with xdotool and writes docs/*.png with ImageMagick
# (Fyne's Canvas().Capture() is transparent under Xvfb). See tools/screenshots.sh.
screenshots: apt-deps screenshot-deps build
	tools/screenshots.sh bin/fieldforms docs
