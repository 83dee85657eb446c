# Two commands: `make chat` (set up, ingest the demo on first run, chat) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

# The whole environment is installed from requirements-lock.txt (exact versions and hashes,
# made by `make lock` from pyproject.toml's ranges); pip resolves nothing at install time.
LOCK := requirements-lock.txt
# the lock tool, kept out of the venv the tests use; `make lock` installs it on first use
UV_VERSION := 0.13.9
UV := build/tools/bin/uv
LOCK_EXTRAS := --extra tui --extra discord --extra serve --extra bench --extra test --extra dev
# where the CPU build of torch lies on this machine image (PyPI's torch is a CUDA build)
TORCH_WHEELS ?= /opt/wheels
# `make lock` keeps every pin that pyproject.toml still allows; `make lock UPGRADE=--upgrade` moves all to the newest
UPGRADE ?=

# llama-cpp-python is built from source with portable CPU flags: no -march=native, so the
# wheel runs on any x86-64 CPU with AVX2. A native build made on a CPU that advertises AMX
# dies with SIGILL (tileloadd in ggml_backend_amx_mul_mat) at the first multi-token prompt,
# and one made on an AVX-512 machine dies on CPUs without it. See README "Embedded model".
# The version and the source package's hash come from the lock.
LLAMA_VERSION := $(shell sed -n 's/^llama-cpp-python==\([^ ]*\).*/\1/p' $(LOCK))
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF
# pip's wheel cache ignores CMAKE_ARGS, so the wheel lives in our own cache keyed by version and flags.
LLAMA_KEY := $(shell printf '%s %s' '$(LLAMA_VERSION)' '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-16)
LLAMA_WHEELS := $(HOME)/.cache/recochat/llama-wheels/$(LLAMA_KEY)
# The stamp names the build key: new flags or a new version mean a new stamp, so an existing
# venv is rebuilt and checked again. It also depends on the lock, so a venv follows a new lock.
STAMP := $(VENV)/.installed-$(LLAMA_KEY)

.PHONY: chat test lint bench clean lock deps-latest

$(STAMP): $(LOCK) pyproject.toml Makefile bot/llm_check.py
	test -x $(PY) || python3 -m venv $(VENV)
	# build the llama.cpp wheel once per key (~5-10 min), from the locked source package
	# (its hash is checked), never from pip's cache
	mkdir -p build
	awk '/^llama-cpp-python==/{on=1} on{print} on && !/\\$$/{exit}' $(LOCK) > build/llama-cpp-python.lock
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" FORCE_CMAKE=1 $(PY) -m pip wheel -q --no-deps --no-cache-dir \
	    --no-binary llama-cpp-python --require-hashes -r build/llama-cpp-python.lock -w $(LLAMA_WHEELS)
	$(PY) -m pip install -q --force-reinstall --no-deps $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	# everything else exactly as locked (torch is the CPU build that lies on disk, +cpu); the
	# llama.cpp wheel above already satisfies its pin, so pip keeps it
	$(PY) -m pip install -q --require-hashes --no-deps -r $(LOCK)
	# packages a new lock dropped leave the venv, so it matches the lock
	$(PY) -m pip freeze --exclude-editable | sed -n 's/^\([A-Za-z0-9._-]*\)==.*/\1/p' | tr 'A-Z_.' 'a-z--' | sort > build/installed.txt
	sed -n 's/^\([A-Za-z0-9._-]*\)==.*/\1/p' $(LOCK) | tr 'A-Z_.' 'a-z--' | sort > build/locked.txt
	comm -23 build/installed.txt build/locked.txt | xargs -r $(PY) -m pip uninstall -q -y
	# the project itself, with no resolution of its own (its build backend is in the lock)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	# a real generation from a long prompt in a subprocess, then the app's own chat client
	# (ChatOpenAI from settings) streaming one reply from the embedded server: a build that
	# crashes, or libraries that cannot talk to each other, stop set-up here
	$(PY) -m recochat.bot.llm_check
	rm -f $(VENV)/.installed*
	touch $(STAMP)

# Resolve pyproject.toml's ranges into the lock. Before moving everything to the newest
# (UPGRADE=--upgrade), run `make deps-latest` to see what would move and whether it breaks.
lock: $(UV)
	$(UV) pip compile pyproject.toml $(LOCK_EXTRAS) --python-version 3.11 --generate-hashes \
	  $(UPGRADE) --find-links $(TORCH_WHEELS) --no-emit-find-links --custom-compile-command 'make lock' -o $(LOCK)

$(UV):
	python3 -m venv build/tools
	build/tools/bin/pip install -q uv==$(UV_VERSION)

# Not part of CI: the newest allowed versions in a scratch venv, the fast tests and the LLM
# check there; prints which packages moved from the lock and what broke.
deps-latest: $(UV)
	UV=$(UV) LOCK=$(LOCK) LLAMA_WHEELS=$(LLAMA_WHEELS) LLAMA_VERSION=$(LLAMA_VERSION) \
	  LOCK_EXTRAS="$(LOCK_EXTRAS)" bash .ci/deps-latest

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
