# Meridian: every target sets up its own environment from nothing.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export RAY_AUTH_MODE ?= disabled
export RAY_USAGE_STATS_ENABLED ?= 0
export MERIDIAN_TEST_PG_DSN ?= postgresql://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=

.PHONY: venv demo test serve dashboard bench clean browser

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,sample]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m pipelines.jobs.demo

# The panel's browser test drives Debian's chromium; install it where we can (root with apt),
# otherwise that one test skips with the reason.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "chromium not installed: the browser test will skip"

test: $(STAMP) browser
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

serve: $(STAMP)
	$(VENV)/bin/meridian serve

dashboard: $(STAMP)
	$(VENV)/bin/meridian dashboard

bench: $(STAMP)
	@for f in tests/bench/bench_*.py; do echo "# $$f" >&2; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) data reports .pytest_cache
