# Two commands do everything on a fresh machine:
#   make reproduce   -> figures/ (python reproduce.py)
#   make test        -> the test suite
# Both create .venv from requirements.txt when it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv test test-all reproduce bench docs clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m pip check
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

# Also runs the tests marked slow (longer training / design runs).
test-all: $(STAMP)
	$(PY) -m pytest -q -m "slow or not slow"

reproduce: $(STAMP)
	$(PY) reproduce.py

bench: $(STAMP)
	$(PY) bench/bench_simulator.py
	$(PY) bench/bench_thermal.py
	$(PY) bench/bench_selfconsistent.py
	$(PY) bench/bench_freeform.py
	$(PY) bench/bench_fem.py
	$(PY) bench/bench_2d.py

# The documentation site (docs/_build/html): pinned docs/requirements.txt on top of the venv;
# the tutorials in docs/tutorials/ are executed by the build, and any warning is an error.
docs: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.txt -r docs/requirements.txt
	$(PY) -m pip check
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info docs/_build docs/reference/generated docs/jupyter_execute
