# SPDX-License-Identifier: GPL-2.0-only
# pcilu — developer entry points. `make setup` is what the README's first command runs.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PYTHON  := $(BIN)/python
PCILU   := $(BIN)/pcilu
FUZZ_SECONDS ?= 600
APT_PKGS := pciutils device-tree-compiler binutils gcc make
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup tools venv kernels kunit demo test test-fast abi-check bench fuzz lint man clean

setup: tools venv kernels kunit        ## install tools and a virtualenv with pcilu in it

tools:                                 ## Debian packages the tests compare against (lspci, dtc, readelf, gcc, dot, chromium)
	@missing=""; \
	for t in lspci:pciutils dtc:device-tree-compiler fdtdump:device-tree-compiler readelf:binutils gcc:gcc dot:graphviz chromium:chromium; do \
	  command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; done; \
	$(PY) -c "import ensurepip, venv" >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "warning: please install$$missing (tests that need them are skipped)"; fi; \
	fi

KERNEL_CACHE ?= .cache/kernels
kernels:                               ## a real Debian kernel package for `pcilu kernel` tests (skipped when apt cannot fetch it)
	@mkdir -p $(KERNEL_CACHE); \
	if ls $(KERNEL_CACHE)/linux-image-*.deb >/dev/null 2>&1; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then echo "kernels: no apt-get; the real-kernel tests will skip"; exit 0; fi; \
	dep=$$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends:/{print $$2; exit}'); \
	if [ -z "$$dep" ]; then echo "kernels: linux-image-cloud-amd64 unknown to apt; the real-kernel tests will skip"; exit 0; fi; \
	cd $(KERNEL_CACHE) && { timeout 600 apt-get download -qq "$$dep-unsigned" 2>/dev/null || \
	  timeout 600 apt-get download -qq "$$dep" 2>/dev/null || \
	  echo "kernels: could not download $$dep; the real-kernel tests will skip"; }

KUNIT_CACHE ?= .cache/kunit
KUNIT_SRC   ?= linux-source-6.1
kunit:                                 ## the kernel's own KTAP parser (tools/testing/kunit/*.py of Debian's linux-source) for the KTAP tests (skipped when apt cannot fetch it)
	@if [ -f $(KUNIT_CACHE)/kunit_parser.py ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then \
	  echo "kunit: no apt-get/dpkg-deb; the kunit_parser tests will skip"; exit 0; fi; \
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	if ! (cd "$$tmp" && timeout 900 apt-get download -qq $(KUNIT_SRC) >/dev/null 2>&1); then \
	  echo "kunit: could not download $(KUNIT_SRC); the kunit_parser tests will skip"; exit 0; fi; \
	mkdir -p "$$tmp/out" && \
	dpkg-deb --fsys-tarfile "$$tmp"/$(KUNIT_SRC)_*.deb \
	  | tar -xOf - ./usr/src/$(KUNIT_SRC).tar.xz \
	  | tar -xJf - -C "$$tmp/out" --strip-components=4 --wildcards --no-wildcards-match-slash \
	      '$(KUNIT_SRC)/tools/testing/kunit/*.py' \
	  && [ -f "$$tmp/out/kunit_parser.py" ] \
	  && mkdir -p $(KUNIT_CACHE) && cp "$$tmp"/out/*.py $(KUNIT_CACHE)/ \
	  && echo "kunit: $(KUNIT_CACHE) holds tools/testing/kunit/*.py of $(KUNIT_SRC)" \
	  || echo "kunit: $(KUNIT_SRC) holds no tools/testing/kunit; the kunit_parser tests will skip"

venv: $(BIN)/.installed
$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

demo: venv                             ## the main job on a shipped example: a whole rehearsal
	$(PCILU) rehearse fixtures/scenarios/qemu-virtio-net.yaml

test: venv                             ## the whole test suite (a few minutes on 2 cores)
	$(PYTHON) -m pytest tests

test-fast: venv
	$(PYTHON) -m pytest tests -m "not slow" -x

abi-check:                             ## build the C side of the ABI contract and print its layout
	$(MAKE) -C abi
	abi/build/abi_check layout

bench: venv                            ## benchmarks: prints a table, writes bench/results/latest.json
	$(PYTHON) bench/run.py

fuzz: venv                             ## long atheris run (FUZZ_SECONDS, default 600)
	$(BIN)/pip install -q 'atheris>=2.3,<4'
	$(PYTHON) fuzz/run.py --seconds $(FUZZ_SECONDS)

man: venv                              ## man pages from the click commands into build/man/
	$(PYTHON) -m pcilu_cli.cli.manpage build/man

lint: venv
	$(PYTHON) -m compileall -q pcilu_cli tests >/dev/null
	$(PYTHON) -m pyflakes --version >/dev/null 2>&1 || $(BIN)/pip install -q pyflakes
	$(PYTHON) -m pyflakes pcilu_cli tests bench fuzz

clean:
	rm -rf $(VENV) abi/build .pytest_cache .hypothesis
