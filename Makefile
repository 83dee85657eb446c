# Two commands: `make chat` (set up, ingest the demo on first run, chat) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

# llama-cpp-python is built from source with portable CPU flags: no -march=native, so the
# wheel runs on any x86-64 CPU with AVX2. A native build made on a CPU that advertises AMX
# dies with SIGILL (tileloadd in ggml_backend_amx_mul_mat) at the first multi-token prompt,
# and one made on an AVX-512 machine dies on CPUs without it. See README "Embedded model".
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF
# pip's wheel cache ignores CMAKE_ARGS, so the wheel lives in our own cache keyed by version and flags.
LLAMA_KEY := $(shell printf '%s %s' '$(LLAMA_VERSION)' '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-16)
LLAMA_WHEELS := $(HOME)/.cache/recochat/llama-wheels/$(LLAMA_KEY)
# The stamp names the build key: new flags or a new version mean a new stamp, so an existing
# venv is rebuilt and checked again, not only when pyproject.toml changes.
STAMP := $(VENV)/.installed-$(LLAMA_KEY)

.PHONY: chat test lint bench clean

$(STAMP): pyproject.toml Makefile bot/llm_check.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU build of torch that lies on disk; a bare `torch` would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	# build the llama.cpp wheel once per key (~5-10 min), never from pip's cache
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" FORCE_CMAKE=1 $(PY) -m pip wheel -q --no-deps --no-cache-dir \
	    --no-binary llama-cpp-python 'llama-cpp-python==$(LLAMA_VERSION)' -w $(LLAMA_WHEELS)
	$(PY) -m pip install -q --force-reinstall --no-deps $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(PY) -m pip install -q -e '.[tui,discord,bench,test,dev]'
	# a real generation from a long prompt, in a subprocess: a build that crashes here stops set-up
	$(PY) -m recochat.bot.llm_check
	rm -f $(VENV)/.installed*
	touch $(STAMP)

chat: $(STAMP)
	$(VENV)/bin/recochat chat

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	mkdir -p build/mypy/recochat
	for d in bot retrieval profiles prompts benchmarks; do ln -sfn $(CURDIR)/$$d build/mypy/recochat/$$d; done
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV)
