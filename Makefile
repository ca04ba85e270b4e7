# dango — the two commands the README promises:
#   make demo   builds dango and runs the whole loop on a demo project with bundled sample data
#   make test   runs every test (installs the dbt-core and dlt references into .venv-dbt,
#               .venv-dbt111 and .venv-dlt first)

GO       ?= go
BIN      := bin/dango
DEMO_DIR ?= demo
VENV     := .venv-dbt
# The reference engine for tests. duckdb is pinned to the engine the Go driver bundles
# (1.5.6), so both sides read and write the same file format.
DBT_PINS := "dbt-core==1.9.*" "dbt-duckdb==1.9.*" "duckdb==1.5.6"
# The dlt reference for the side-by-side suite (compat/dlt): dlt 1.31 on the same engine, with
# the drivers its sql_database source needs and the readers of its filesystem source.
# The newest dbt-core 1.x that installs here (1.12 does not), for the package suite (compat/dbt).
VENV_LATEST := .venv-dbt111
DBT_LATEST_PINS := "dbt-core==1.11.*" "dbt-duckdb==1.11.*" "duckdb==1.5.6"
DLT_VENV := .venv-dlt
DLT_PINS := "dlt[duckdb]==1.31.*" "duckdb==1.5.6" sqlalchemy psycopg2-binary pymysql pandas pyarrow

.PHONY: build demo test test-dbt test-dbt-status test-dlt test-short soak bench bench-files bench-transform bench-rest bench-sql bench-serve vet clean

build:
	$(GO) build -o $(BIN) ./cmd/dango

demo: build
	$(BIN) init --example --force $(DEMO_DIR)
	cd $(DEMO_DIR) && ../$(BIN) sync
	cd $(DEMO_DIR) && ../$(BIN) generate
	cat $(DEMO_DIR)/dbt/models/staging/stg_sales_data.sql
	cd $(DEMO_DIR) && ../$(BIN) build
	cd $(DEMO_DIR) && ../$(BIN) source list
	cd $(DEMO_DIR) && ../$(BIN) query "SELECT * FROM marts.customer_metrics ORDER BY revenue DESC LIMIT 5"

$(VENV)/bin/dbt:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(DBT_PINS)

# A failed install leaves no venv behind, so the next run tries again.
$(VENV_LATEST)/bin/dbt:
	rm -rf $(VENV_LATEST)
	python3 -m venv $(VENV_LATEST)
	$(VENV_LATEST)/bin/pip install --quiet --disable-pip-version-check $(DBT_LATEST_PINS) || { rm -rf $(VENV_LATEST); exit 1; }

$(DLT_VENV)/bin/python:
	rm -rf $(DLT_VENV)
	python3 -m venv $(DLT_VENV)
	$(DLT_VENV)/bin/pip install --quiet --disable-pip-version-check $(DLT_PINS) || { rm -rf $(DLT_VENV); exit 1; }

# stripe-mock is Stripe's own API simulator, a Go module: the tests run dango against it.
bin/stripe-mock:
	GOBIN=$(CURDIR)/bin $(GO) install github.com/stripe/stripe-mock@v0.203.0

# The real nats-server, built from the module dango embeds, for the multi-process fault tests.
NATS_VERSION := $(shell $(GO) list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
bin/nats-server:
	GOBIN=$(CURDIR)/bin $(GO) install github.com/nats-io/nats-server/v2@$(NATS_VERSION)

# PostgreSQL and MariaDB run for the duration of the tests on loopback (scripts/testdb.sh
# installs them from Debian's packages when missing).
test: $(VENV)/bin/dbt $(VENV_LATEST)/bin/dbt $(DLT_VENV)/bin/python bin/stripe-mock bin/nats-server
	$(GO) vet ./...
	scripts/testdb.sh run -- env DANGO_DBT=$(CURDIR)/$(VENV)/bin/dbt DANGO_DBT_LATEST=$(CURDIR)/$(VENV_LATEST)/bin/dbt DANGO_STRIPE_MOCK=$(CURDIR)/bin/stripe-mock \
		DANGO_NATS_SERVER=$(CURDIR)/bin/nats-server DANGO_DLT_PYTHON=$(CURDIR)/$(DLT_VENV)/bin/python \
		$(GO) test -count=1 -timeout 30m ./...

# The dbt package suite (compat/dbt): the integration-test projects of dbt-utils, dbt-date and
# dbt-expectations under dbt-core 1.9, the newest 1.x and dango (PKG=dbt_utils for one). It is
# not in `make test` until dango's engine runs these projects (DANGO_DBT_SUITE gates it there);
# test-dbt-status rewrites compat/dbt/STATUS.md, what fails today and why.
DBT_SUITE_ENV = DANGO_DBT_SUITE=1 DANGO_DBT=$(CURDIR)/$(VENV)/bin/dbt DANGO_DBT_LATEST=$(CURDIR)/$(VENV_LATEST)/bin/dbt
test-dbt: $(VENV)/bin/dbt $(VENV_LATEST)/bin/dbt
	env $(DBT_SUITE_ENV) $(GO) test -count=1 -timeout 20m -v ./compat/dbt -run 'TestPackages/$(PKG)'

test-dbt-status: $(VENV)/bin/dbt $(VENV_LATEST)/bin/dbt
	-env $(DBT_SUITE_ENV) $(GO) test -count=1 -timeout 20m ./compat/dbt -run 'TestPackages/$(PKG)' -update-status

# Only the side-by-side suite against dlt (CASE=rest_offset for one case).
test-dlt: $(DLT_VENV)/bin/python
	scripts/testdb.sh run -- env DANGO_DLT_PYTHON=$(CURDIR)/$(DLT_VENV)/bin/python \
		$(GO) test -count=1 -v ./compat/dlt -run 'TestSideBySide/$(CASE)'

# The long fault run: 200 SIGKILLs of dango sync at random moments, each followed by a read
# that must see whole loads only (make test runs a few of the same trials).
soak:
	DANGO_KILL_TRIALS=200 $(GO) test -count=1 -timeout 60m -run 'TestKillTrials' -v ./cmd/dango

# Unit tests only: no dbt, no multi-million-row files.
test-short:
	$(GO) test -short ./...

# Both benchmarks; each reports ratios against its reference measured in the same run.
bench: bench-files bench-transform bench-rest bench-sql bench-serve

bench-files: build
	$(GO) run ./bench/filesync -dango $(BIN)

bench-rest: build
	$(GO) run ./bench/restapi -dango $(BIN)

# 5M PostgreSQL rows: dango vs dlt's sql_database (pyarrow), on a throwaway server and venv.
bench-sql: build
	scripts/testdb.sh run -- $(GO) run ./bench/sqldb -dango $(BIN)

# 1,000 small sources through dango serve vs one embedded sync; webhook-to-job-start latency.
bench-serve: build
	$(GO) run ./bench/serve -dango $(BIN)

bench-transform: build $(VENV)/bin/dbt
	$(GO) run ./bench/transform -dango $(BIN) -dbt $(VENV)/bin/dbt -sizes 1000,10000

clean:
	rm -rf bin $(DEMO_DIR) bench/work bench/out
