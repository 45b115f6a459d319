# Two commands on a fresh machine:
#   make demo   - set up .venv and answer a question about a generated video
#   make test   - set up .venv and run the test suite
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.mmlong-installed
# CPU torch first so nothing later pulls a multi-GB CUDA build (see README).
TORCH   ?= torch==2.13.0
EXTRAS  ?= dev

.PHONY: setup demo test clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m mmlong.demo_video .mmlong_cache/demo.mp4
	HF_HUB_OFFLINE=1 $(BIN)/mmlong ask .mmlong_cache/demo.mp4 "What color is the screen at the start of the video?" --model tiny:qwen2_5_vl

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -x -m "not slow and not gpu" --timeout 600

clean:
	rm -rf $(VENV) .pytest_cache .mmlong_cache
