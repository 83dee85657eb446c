# Two commands: `make chat` (set up, ingest the demo on first run, chat) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: chat test bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU build of torch that lies on disk; a bare `torch` would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	# llama-cpp-python builds from source once (~10 min); pip caches the wheel afterwards
	$(PY) -m pip install -q -e '.[tui,discord,bench,test]'
	touch $(STAMP)

chat: $(STAMP)
	$(VENV)/bin/recochat chat

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV)
