# Two commands set everything up on a fresh machine:
#   make run   create .venv, install, start the service with embedded defaults
#   make test  create .venv if needed, install, run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

TURBO  := benchmarks/.turboseti-venv

.PHONY: run test install browser postgres turboseti clean lab

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	# an editable install skips data files: enable the Jupyter Server extension here
	$(BIN)/python -m mitraseti_extension enable
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null; \
	  else echo "chromium missing: browser tests will be skipped (install Debian's chromium)"; fi; }

# Debian's PostgreSQL server (15 on bookworm) for the database tests (they start a throw-away cluster as
# the unprivileged postgres user; nothing listens beyond 127.0.0.1). Without it those tests
# are skipped, and fail under CI=true.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql) >/dev/null; \
	  else echo "PostgreSQL 15 missing: database tests will be skipped (install Debian's postgresql)"; fi; }

# turboSETI 2.3.2 in its own environment (it needs numpy < 2): the .dat reader test and
# benchmarks/compare_turboseti.py use it. Best effort: without it that one test is skipped.
$(TURBO)/.installed:
	@{ test -x $(TURBO)/bin/python || $(PYTHON) -m venv $(TURBO); } && \
	  $(TURBO)/bin/python -m pip install -q 'numpy<2' turbo-seti==2.3.2 >/dev/null 2>&1 && \
	  touch $@ || echo "turboSETI could not be installed: its .dat reader test will be skipped"

turboseti: $(TURBO)/.installed

test: install browser postgres turboseti
	$(BIN)/python -m pytest -q -p no:cacheprovider

run: install
	$(BIN)/mitraseti serve --host $(HOST) --port $(PORT)

# JupyterLab on the notebooks, with the MitraSETI API and dashboard inside
lab: install
	$(BIN)/mitraseti lab

clean:
	rm -rf $(VENV) $(TURBO) build *.egg-info
