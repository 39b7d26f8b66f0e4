# Two commands do all the set-up: `make report` and `make test`.
# Each creates (or reuses) the local virtual environment .venv from pyproject.toml.
PYTHON ?= python3
# Some machines set PYTHONDONTWRITEBYTECODE: then every test worker, notebook kernel and
# experiment process compiles glaucoma_lib from source again (~10 s of the quick suite here).
unexport PYTHONDONTWRITEBYTECODE
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: report test bench sweep clean venv

# Yes/no options (QUICK, FULL, SLOW): 1, yes or true turn one on; nothing, 0, no or false leave
# it off; anything else stops make. `$(call on,FULL)` is non-empty when FULL is on.
on = $(if $(filter 1 yes true,$($(1))),1,$(if $(filter-out 0 no false,$($(1))),$(error \
	$(1)=$($(1)): use 1, yes or true to turn it on, or 0, no or false)))

# Values (DATA, AIROGS, HYGD, SEED, JOBS, SCHEDULER) reach the recipes as environment variables (make
# exports those given on its command line) and are quoted by the shell there, never pasted
# into the command: a path may hold spaces, quotes or $.

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

report: $(STAMP)
	$(PY) -m glaucoma_lib.report.build $(if $(call on,QUICK),--quick) $(if $(call on,FULL),--full) \
		$${DATA:+--data-dir "$$DATA"} $${AIROGS:+--airogs-dir "$$AIROGS"} \
		$${HYGD:+--hygd-dir "$$HYGD"} $${SEED:+--seed "$$SEED"} $${JOBS:+--jobs "$$JOBS"}

# `make test`: ruff + the quick suite (tests marked slow are skipped); `make test SLOW=1`: all
# of it, as CI runs it. Tests run in one worker process per core (pytest-xdist).
test: $(STAMP)
	$(PY) -m ruff check glaucoma_lib tests notebooks
	$(PY) -m pytest -q -n auto $(if $(call on,SLOW),,-m "not slow")

bench: $(STAMP)
	$(PY) -m glaucoma_lib.nn.bench

# report/.swap-* and .old-* are a swap a crash cut short: the next build finishes it.
clean:
	rm -rf .cache build report/.build*

# `make sweep JOBS=2` (local processes; default every core) or `make sweep SCHEDULER=tcp://HOST:8786`.
sweep: $(STAMP)
	$(PY) -m glaucoma_lib.study.sweep $${DATA:+--data-dir "$$DATA"} $${JOBS:+--jobs "$$JOBS"} \
		$${SCHEDULER:+--scheduler "$$SCHEDULER"}
