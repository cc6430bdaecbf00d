# Set-up and the main jobs. `make submit` and `make test` are the two commands README.md promises:
# each installs what it needs (Debian's Fashion-MNIST package, a virtualenv with the package) first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DATA   ?= data/fashion-mnist
MODEL  ?= cnn
# make submit's minutes for the cross-validation (--time-budget): empty, the model's own schedule
# (the cnn's 7 epochs, 26 minutes on 2 slow cores); on a faster machine BUDGET=25 trains as many
# epochs as 25 minutes hold (on fold 0, 14 epochs scored 0.9333 against 7 epochs' 0.9315)
BUDGET ?=
# make test's pytest-xdist workers, one a core (auto); each test file runs whole in one worker
TEST_WORKERS ?= auto
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FASHION_IDX := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
CHROMIUM    := /usr/bin/chromedriver

.PHONY: help setup system data submit test bench clean

# `make` alone: set up, then say how to run the commands
setup: system $(VENV)/.installed
	@echo "ready: run the commands with .venv/bin/competition VERB (or '. .venv/bin/activate' first, then"
	@echo "       'competition VERB' or 'python -m competition.X'); make help lists the targets"

help:
	@echo "make          set up: Debian's Fashion-MNIST, a virtualenv (.venv) with every extra"
	@echo "make submit   the main job: prepare, check, cross-validate MODEL=$(MODEL), submit and grade"
	@echo "              (28 min on 2 slow cores); MODEL=lgbm, MODEL=cnn-quick: other models;"
	@echo "              BUDGET=25: as many epochs as 25 minutes hold (a faster machine)"
	@echo "make test     the test suite (installs Chromium and its driver for the browser tests)"
	@echo "make bench    the loading and CV benchmarks"
	@echo "make clean    remove .venv and the prepared data"

system: $(FASHION_IDX)

$(FASHION_IDX):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist

# Debian's headless browser and its driver, for the grader pages' browser tests only (not a desktop)
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-liberation

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV) || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,test]'
	touch $@

data: setup
	$(PY) -m competition.prepare --out $(DATA)

# The main job: check the data, cross-validate $(MODEL) (reusing a matching run), write a validated
# submission, grade it locally and redraw leaderboard.md.
submit: data
	$(PY) -m competition.data check $(DATA)
	$(PY) -m competition.submit --model $(MODEL) --data $(DATA) --grade $(if $(BUDGET),--time-budget $(BUDGET))

test: setup $(CHROMIUM)
	$(PY) -m ruff check .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: data
	$(PY) bench/load.py --data $(DATA)
	$(PY) bench/cv.py --data $(DATA)

clean:
	rm -rf $(VENV) $(DATA) $(DATA).grader
