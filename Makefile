# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# Each creates (or reuses) .venv and installs what it needs, pinned by constraints.txt.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
# Re-install only when the dependency list or pins change.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test test-fast fuzz lint format bench bench-budget llama-check browser-deps proxy-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[test,dev]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(BIN)/nanogpt-studio serve

# Browser tests need Debian's Chromium; install it when we can (root + apt), else they skip
# locally. CI (.ci/run) requires it.
browser-deps:
	@if [ ! -x $(CHROMIUM) ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get install -y -q chromium >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) || \
		echo "could not install chromium: browser tests will skip"; \
	fi

# The reverse-proxy test runs Debian's nginx; the same: installed when we can, required in CI.
proxy-deps:
	@if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ] && command -v apt-get >/dev/null \
		&& [ "$$(id -u)" = 0 ]; then \
		(apt-get install -y -q nginx >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null && apt-get install -y -q nginx >/dev/null)) || \
		echo "could not install nginx: the reverse-proxy test will skip"; \
	fi

# Two test processes (pytest-xdist): each backend's shared service stack is a group (the two
# run side by side), the browser tests are one, and the rest spread over both (tests/conftest.py).
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadgroup

test: $(STAMP) browser-deps proxy-deps
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# Everything but tests/system/ (worker processes, faults), tests/browser/ and the slow ones.
test-fast: $(STAMP)
	$(BIN)/python -m pytest $(XDIST) -m "not service and not browser and not slow" $(PYTEST_ARGS)

# Schemathesis over the whole API with many more examples than the suite's quick pass.
fuzz: $(STAMP)
	STUDIO_FUZZ_EXAMPLES=$${STUDIO_FUZZ_EXAMPLES:-500} $(BIN)/python -m pytest tests/api/test_fuzz.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/vulture

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# issue 22's figures: 5-minute budget runs against the CPU presets on two corpora, and an
# 8-trial pruned sweep against a 12-rate grid (about 1.5 hours on a quiet 2-core box)
bench-budget: $(STAMP)
	$(BIN)/python bench/budget.py --seconds 300 --corpora shakespeare,code --sweep --calibrate

# llama.cpp loads our GGUF exports and continues a prompt as our sampler does
# (bench/llama_check.py; docs/benchmarks.md). llama.cpp's source comes from the
# llama-cpp-python sdist (PyPI: no other download), and only its llama-simple is built.
LLAMA_CPP_PYTHON ?= 0.3.36
LLAMA_DIR := .llama-check
LLAMA_SRC := $(LLAMA_DIR)/llama_cpp_python-$(LLAMA_CPP_PYTHON)/vendor/llama.cpp

$(LLAMA_SRC):
	mkdir -p $(LLAMA_DIR)
	$(PIP) download -q --no-deps --no-binary llama-cpp-python -d $(LLAMA_DIR) llama-cpp-python==$(LLAMA_CPP_PYTHON)
	tar -xzf $(LLAMA_DIR)/llama_cpp_python-$(LLAMA_CPP_PYTHON).tar.gz -C $(LLAMA_DIR)

$(LLAMA_DIR)/build/bin/llama-simple: | $(LLAMA_SRC)
	cmake -S $(LLAMA_SRC) -B $(LLAMA_DIR)/build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
		-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_EXAMPLES=ON \
		-DBUILD_SHARED_LIBS=OFF -DGGML_OPENMP=OFF
	cmake --build $(LLAMA_DIR)/build --target llama-simple -j $$(nproc)

llama-check: $(STAMP) $(LLAMA_DIR)/build/bin/llama-simple
	$(BIN)/python bench/llama_check.py --llama-simple $(LLAMA_DIR)/build/bin/llama-simple $(LLAMA_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info $(LLAMA_DIR)
