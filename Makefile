# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv/ on first use.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv train-builtin clean-venv

venv: $(STAMP)

# torch is pinned here (not in setup.py) so a robot keeps its own build; 2.13.0 is the CPU wheel on disk.
$(STAMP): setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[ros,test,bench,sim]"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rs-vla-guard demo

test: $(STAMP)
	$(PY) -m pytest -q test

train-builtin: $(STAMP)
	$(PY) -m rs_vla_guard.policies.train_builtin

clean-venv:
	rm -rf $(VENV)
