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

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

report: $(STAMP)
	$(PY) -m glaucoma_lib.report.build $(if $(QUICK),--quick) $(if $(FULL),--full) $(if $(DATA),--data-dir "$(DATA)") \
		$(if $(AIROGS),--airogs-dir "$(AIROGS)") $(if $(SEED),--seed $(SEED)) $(if $(JOBS),--jobs $(JOBS))

# `make test`: ruff + the quick suite (tests marked slow are skipped); `make test SLOW=1`: all
# of it, as CI runs it. Tests run in one worker process per core (pytest-xdist).
test: $(STAMP)
	$(PY) -m ruff check glaucoma_lib tests notebooks
	$(PY) -m pytest -q -n auto $(if $(SLOW),,-m "not slow")

bench: $(STAMP)
	$(PY) -m glaucoma_lib.nn.bench

clean:
	rm -rf .cache build report/.build* report/.old*

# `make sweep JOBS=2` (local processes; default every core) or `make sweep SCHEDULER=tcp://HOST:8786`.
sweep: $(STAMP)
	$(PY) -m glaucoma_lib.study.sweep $(if $(DATA),--data-dir "$(DATA)") $(if $(JOBS),--jobs $(JOBS)) \
		$(if $(SCHEDULER),--scheduler $(SCHEDULER))
