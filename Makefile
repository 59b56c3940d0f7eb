# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv/ on first use.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast venv train-builtin train-builtin-pi0 train-builtin-tokens train-builtin-clip train-builtin-arm clean-venv

venv: $(STAMP)

# torch is pinned here (not in setup.py) so a robot keeps its own build; 2.13.0 is the CPU wheel on disk.
$(STAMP): setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[ros,test,bench,sim,replay,fleet,semantic,docs]"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rs-vla-guard demo

test: $(STAMP)
	$(PY) -m pytest -q test

# Everything but the slow tiers (ROS processes, MuJoCo, transformers models): seconds, for work in progress.
test-fast: $(STAMP)
	$(PY) -m pytest -q test -m "not ros and not sim and not model"

# Two stages (~30 + ~10 min on 2 cores): the renderer task from scratch, then fine-tuning on a mix of
# renderer scenes and MuJoCo camera views, so one policy serves the demo and the simulation.
train-builtin: $(STAMP)
	$(PY) -m rs_vla_guard.training.builtin --out build/builtin-renderer
	MUJOCO_GL=egl $(PY) -m rs_vla_guard.training.builtin --init build/builtin-renderer \
		--steps 2500 --lr 5e-4 --curriculum-steps 0 --sim-views 3000 --sim-fraction 0.5

# One run (~26 min on 2 cores): flow matching on renderer scenes mixed with MuJoCo camera views.
train-builtin-pi0: $(STAMP)
	MUJOCO_GL=egl $(PY) -m rs_vla_guard.training.builtin_pi0 --steps 6000 --sim-views 3000 --sim-fraction 0.35

# One run (~10 min on 2 cores): the built-in VLM with 256 action tokens, fine-tuned to answer in them.
train-builtin-tokens: $(STAMP)
	$(PY) -m rs_vla_guard.training.builtin_tokens --steps 2500

# One run (~10 min on 2 cores): the tiny CLIP, contrastive on the block task and its lighting prompts.
train-builtin-clip: $(STAMP)
	$(PY) -m rs_vla_guard.training.builtin_clip

# One run (~26 min on 2 cores): the arm's chunked pi0 on MuJoCo arm-world views (rendered once, ~7 min).
train-builtin-arm: $(STAMP)
	MUJOCO_GL=egl $(PY) -m rs_vla_guard.training.builtin_arm --steps 6000 --views 8000 --binding-views 2000

clean-venv:
	rm -rf $(VENV)
