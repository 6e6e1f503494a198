# yolo-ext: `make demo` trains + validates on the built-in synthetic WIDER-format data; `make test` runs the tests.
# Both create the virtual environment (.venv) and install everything on first use.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export YOLO_OFFLINE := 1

.PHONY: install demo test test-fast bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Main job: short CPU schedule of the face model on the synthetic WIDER-format set, then WIDER easy/medium/hard AP.
demo: $(STAMP)
	$(BIN)/python train.py --data synth --epochs 16 --imgsz 416 --batch-size 16 --device cpu --name demo --exist-ok \
		--set nbs=16 close_mosaic=3 val=false
	$(BIN)/python val.py --weights runs/train/demo/weights/best.pt --data synth --imgsz 416 --device cpu --name demo --exist-ok

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf runs .pytest_cache
