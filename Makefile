# One entry point for building, linting and testing onprem.microk8s. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
export PATH := $(BIN):$(PATH)

# ansible-test only works from a path ending in ansible_collections/<namespace>/<name>, inside a git repository.
COPY := $(CURDIR)/build/ansible_collections/onprem/microk8s
# The controller Python; sanity's compile and import tests also run on every other target Python found here.
CONTROLLER_PYTHON := 3.11
TARGET_PYTHONS := 3.8 3.9 3.10 3.12 3.13 3.14
# Links to the real interpreters found, for ansible-test (wrappers such as pyenv shims fail in its clean environment).
PYTHONS := $(CURDIR)/build/pythons
LOG := build/test.log

.PHONY: help venv lint lint-python lint-yaml lint-ansible lint-changelog lint-shell sanity units pytest runner double-test lab-unit ci-test test lab-up lab-down lab runner-tls-api third-party molecule offload-report device-test bench-storage clean distclean collection-copy get-pip

help:
	@echo "make test          venv + lint + sanity + units + runner + double-test + lab-unit + ci-test + device-test + lab-test, with a closing summary"
	@echo "make venv          create .venv from requirements.txt (again only when it changes)"
	@echo "make lint          ruff check/format, yamllint, ansible-lint (production), antsibull-changelog lint, shellcheck"
	@echo "make sanity        ansible-test sanity on a copy under build/ansible_collections/onprem/microk8s"
	@echo "make units         ansible-test units (tests/unit) on the same copy"
	@echo "make pytest        plain pytest, one directory at a time: the double, the lab kit, tests/ci, tests/device (tests/unit: make units)"
	@echo "make runner        playbooks through ansible-runner on this machine (syntax, preflight refusals)"
	@echo "make runner-tls-api  tls_ingress against the double's in-memory API server, no LXD (about 3 min; not in make test)"
	@echo "make double-test   the lab double's contract suite (tests/lab/double/tests)"
	@echo "make lab-unit      the lab's own unit tests (tests/lab/tests, no LXD needed)"
	@echo "make ci-test       tests of the CI helper scripts (tests/ci)"
	@echo "make lab           lab-up with the inference service, site.yml, verify.yml, the failover drill on MicroK8s defaults and on the tuned profile, both reports"
	@echo "make third-party ROLE=dir  a third-party MicroK8s Ansible role (a local clone) on a fresh 3-node 1.32 lab, checked; lab down after"
	@echo "make bench         site.yml converge and 3 no-op re-runs on 4 and 8 lab nodes (median, tasks per host, 8/4 ratio), then a 30-min soak of a healthy tuned lab counting false NotReady (SOAK_MINUTES=n; SOAK_ONLY=1: only soak the lab that is up)"
	@echo "make bench-storage against a running lab (lab-up + site.yml): the storage drill, 10 power cuts of a mayastor writer (3 in make test)"
	@echo "make offload-report  against a running lab (make lab, or lab-up + site.yml), or SERVER=http://ip:port: reports/offload-*.{md,png,json}"
	@echo "make device-test   the offload device package's tests (tests/device, no lab)"
	@echo "make molecule      the molecule lab scenario (converge, idempotence, verify, failover, verify, destroy)"
	@echo "make lab-up        start the LXD lab (NODES=n PROFILE=x.y are passed on when set; LAB_INFERENCE=1: with the inference service); make lab-down"
	@echo "make clean         remove build output; make distclean also removes .venv"

venv: $(VENV)/.requirements.stamp

$(VENV)/.requirements.stamp: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

lint: lint-python lint-yaml lint-ansible lint-changelog lint-shell

lint-python: venv
	ruff check .
	ruff format --check .

lint-yaml: venv
	yamllint --strict .

lint-ansible: venv
	ansible-lint

lint-changelog: venv
	antsibull-changelog lint

# Shell scripts without a .sh suffix, which ansible-test's shellcheck test does not pick up.
lint-shell:
	if command -v shellcheck >/dev/null; then shellcheck .ci/run; else echo "lint-shell: shellcheck is not installed, skipping"; fi

# A fresh copy of the tracked and untracked-but-not-ignored files (without the in-clone `collections/` symlink,
# which would loop), made a git repository because ansible-test lists files with git.
collection-copy:
	rm -rf $(COPY)
	mkdir -p $(COPY)
	git ls-files -z --cached --others --exclude-standard | grep -zv '^collections/' \
		| rsync -a --from0 --files-from=- --ignore-missing-args ./ $(COPY)/
	git -C $(COPY) init --quiet

# ansible-test bootstraps pip in its venvs with a downloaded get-pip script; place the offline stand-in instead.
get-pip: venv
	version=$$(sed -n "s/^ *pip='\([0-9.]*\)',$$/\1/p" \
		"$$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py"); \
	test -n "$$version" || { echo "cannot find the pip version ansible-test wants" >&2; exit 1; }; \
	install -D -m 0644 tests/ci/get_pip.py "$$HOME/.ansible/test/cache/get_pip_$${version//./_}.py"

sanity: venv get-pip collection-copy
	failed=0; (cd $(COPY) && ansible-test sanity --venv --python $(CONTROLLER_PYTHON) --color no) || failed=1; \
	for version in $(TARGET_PYTHONS); do \
		if real=$$(python$$version -c 'import sys; print(sys.executable)' 2>/dev/null); then \
			mkdir -p $(PYTHONS) && ln -sfn "$$real" $(PYTHONS)/python$$version; \
			(cd $(COPY) && PATH=$(PYTHONS):$$PATH \
				ansible-test sanity --venv --python $$version --test compile --test import --color no) || failed=1; \
		else echo "sanity: no working python$$version here, skipping its compile and import tests"; fi; \
	done; exit $$failed

units: venv get-pip collection-copy
	if [ -d tests/unit ]; then \
		cd $(COPY) && ansible-test units --venv --requirements --python $(CONTROLLER_PYTHON) --color no; \
	else echo "units: tests/unit does not exist yet"; fi

# One pytest process per test directory: each has a conftest.py its tests import as `conftest`, which one process
# would load only once (the second directory's tests then fail to import their helpers). tests/unit runs under
# ansible-test (make units): two of its modules share a file name, and a module's warnings are per process there.
PYTEST_DIRS := tests/lab/double/tests tests/lab/tests tests/ci tests/device
pytest: venv
	status=0; for dir in $(PYTEST_DIRS); do python -m pytest -q $$dir || status=1; done; exit $$status

# Timing tests of a suite this size meet an occasional scheduling stall on a loaded 2-core machine: a failed test is
# run once more (a broken behaviour fails twice), and each retried test is named in the log and the closing summary.
# Two pytest-xdist workers: most of the suite waits on the double's own timings (heartbeats, elections, grace periods),
# so two at once take 6.3 min instead of 11.5 on this 2-core machine (748 passed, no rerun, 2026-12-03).
double-test: venv
	python -m pytest -n 2 tests/lab/double/tests --reruns 1 -rR

# Playbooks through ansible-runner against this machine (syntax of every playbook, bad inventories stop in preflight),
# and the roles' controller-side helpers and inventories/home (tests/roles: they need the controller's packages).
runner: venv
	python -m pytest -n 2 tests/runner tests/roles --ignore=tests/runner/test_tls_ingress_api.py

# tls_ingress's whole Kubernetes side against the double's in-memory API server, no LXD (about 3 minutes; not in
# `make test`, whose lab stage runs the same role on the lab: tests/lab/scenarios/test_tls.py).
runner-tls-api: venv
	python -m pytest tests/runner/test_tls_ingress_api.py

# The lab's own logic (address plan, inventory, image recipe): pure, no LXD needed.
lab-unit: venv
	python -m pytest tests/lab/tests

ci-test: venv
	python -m pytest tests/ci

# Every step runs (-k) even when an earlier one fails; the summary names the failed steps and adds up pytest's counts.
test: venv
	mkdir -p build
	status=0; $(MAKE) --no-print-directory -k lint sanity units runner double-test lab-unit ci-test device-test lab-test 2>&1 | tee $(LOG) || status=$$?; \
	python tests/ci/summary.py $(LOG) $$status; exit $$status

LAB_ARGS := $(if $(NODES),--nodes $(NODES)) $(if $(PROFILE),--profile $(PROFILE))

lab-up: venv
	python tests/lab/lab.py up $(LAB_ARGS)

lab-down: venv
	python tests/lab/lab.py down

# The main command: the LXD lab (4 nodes + client, the microk8s test double) brought up with the inference service's
# inputs (its server image built offline, the digits v1 model: site.yml deploys the service), the whole playbook,
# the checks from the client, the failover drill on MicroK8s' defaults, site.yml again with the failover profile
# (hello's pods roll onto its tolerations) and the drill on it; prints both drills' headline and target lines, then
# the tuned report. `make offload-report` then measures the service site.yml deployed.
lab: venv
	python tests/lab/lab.py up $(LAB_ARGS) --inference
	ansible-playbook site.yml -i inventories/lab
	ansible-playbook playbooks/verify.yml -i inventories/lab
	ansible-playbook playbooks/failover.yml -i inventories/lab
	LAB_FAILOVER_PROFILE=tuned ansible-playbook site.yml -i inventories/lab
	LAB_FAILOVER_PROFILE=tuned ansible-playbook playbooks/failover.yml -i inventories/lab
	reports=($$(ls -t reports/failover-*.txt | head -n 2 | tac)); \
	echo "== Both drills (MicroK8s defaults, then the tuned profile)"; \
	for report in "$${reports[@]}"; do head -n 1 "$$report"; grep -E '^  (PASS|FAIL|INFO-met|INFO-missed) ' "$$report"; done; \
	echo "== The tuned drill: $${reports[-1]}"; cat "$${reports[-1]}"; \
	echo "timeline picture: $${reports[-1]%.txt}.png"

# A third-party MicroK8s role against a fresh 3-node 1.32 lab (ROLE=<its local clone>; nothing is fetched): the
# double's snap installed offline as site.yml does, the role with its own inventory vocabulary, a check that every
# node is Ready with HA on, a re-run; the lab goes away whatever happened. reports/third-party/<role>/summary.txt.
third-party: venv
	@test -n "$(ROLE)" || { echo "usage: make third-party ROLE=/path/to/a/role/clone" >&2; exit 2; }
	status=0; python tests/lab/lab.py up --nodes 3 --profile 1.32 && tests/lab/third_party.sh "$(ROLE)" || status=$$?; \
	python tests/lab/lab.py down; exit $$status

# Failure paths against a running lab (make lab-up first): idempotence, rejoin with no token in a -vvv log,
# a node powered off mid-run.
lab-scenarios: venv
	python -m pytest -v tests/lab/scenarios

# The lab stage of `make test` (root, LXD; the lab installs what it lacks), one lab on MicroK8s 1.32 with the API VIP:
# molecule create, converge; the failure paths (tests/lab/scenarios: the first site.yml run after the converge puts
# back exactly the three objects test_objects_changed_in_the_cluster_are_put_back changed, and the next,
# test_converged_lab_is_idempotent, is the default profile's idempotence check, changed=0 with the no-op task counts
# bounded, so molecule's own idempotence step is not run twice; the scenarios check the cluster, so the first
# molecule verify is left to the end); the storage refusals, restore and 3 power cuts; the failover drill on
# MicroK8s' default timings; site.yml again with the failover profile (converge; the names scenario's playbook again,
# as a user re-runs what deployed their workloads, so its DNS pods roll onto the profile's tolerations; idempotence)
# and the drill on the tuned timings; verify; the lab goes away whatever happened. Other versions:
# `make lab-test LAB_TEST_PROFILE=1.20`.
# LAB_INFERENCE=1: the lab also gets the inference service (site.yml deploys it; tests/lab/scenarios/test_inference.py).
LAB_TEST_PROFILE ?= 1.32
# Molecule's state (created, converged) lives in the tree, not in ~/.cache keyed by the directory's name: a state left
# by a run elsewhere that was stopped before its destroy made `molecule create` skip ("instances already created") and
# converge an empty inventory (stop 21's CI). lab-test starts from none; LAB_REQUIRED makes the scenarios fail, not
# skip, when the lab is not up.
MOLECULE_STATE := $(CURDIR)/build/molecule
export MOLECULE_EPHEMERAL_DIRECTORY := $(MOLECULE_STATE)
# COLUMNS: molecule wraps the playbook output it relays at the terminal's width (80 in CI); wide lines keep Ansible's
# failure lines whole for the closing summary.
lab-test: venv
	rm -rf $(MOLECULE_STATE)
	export LAB_PROFILE=$(LAB_TEST_PROFILE) COLUMNS=240 LAB_REQUIRED=1; status=0; \
	molecule create -s lab && molecule converge -s lab \
		&& python -m pytest -v --durations=0 tests/lab/scenarios \
		&& molecule side-effect -s lab \
		&& LAB_FAILOVER_PROFILE=tuned molecule converge -s lab \
		&& LAB_FAILOVER_PROFILE=tuned ansible-playbook playbooks/cluster_names.yml -i inventories/lab \
		&& LAB_FAILOVER_PROFILE=tuned molecule idempotence -s lab \
		&& LAB_FAILOVER_PROFILE=tuned molecule side-effect -s lab \
		&& molecule verify -s lab || status=$$?; \
	molecule destroy -s lab || true; \
	exit $$status

# Converge and no-op re-run times of site.yml on 4 and 8 lab nodes, per phase, then a soak of a healthy 4-node 1.32
# lab on the failover profile (SOAK_MINUTES, default 30) counting false NotReady (prints numbers, asserts nothing).
# SOAK_ONLY=1: only the soak, of the lab that is up (e.g. after `make lab-up` and LAB_FAILOVER_PROFILE=tuned site.yml).
bench: venv
	python tests/lab/bench.py $(if $(PROFILE),--profile $(PROFILE)) $(if $(SOAK_MINUTES),--soak-minutes $(SOAK_MINUTES)) \
		$(if $(SOAK_ONLY),--soak-only)

# The storage drill's 10 repetitions against a running lab (make lab-up, then site.yml): a power cut of the writer's
# node each, Ready elsewhere <= 90 s, 0 acknowledged records lost (tests/lab/scenarios/test_storage.py).
bench-storage: venv
	LAB_STORAGE_DRILL_REPETITIONS=10 python -m pytest -v -s tests/lab/scenarios/test_storage.py -k test_storage_drill

# The AI offload system's evidence against a running lab (make lab; or make lab-up and site.yml, then the report
# deploys the service itself): both models trained, simulated devices on client1 against the service, a rolling
# model update (v1 -> v2) and a power cut under load.
offload-report: venv
	python tests/lab/offload_report.py $(if $(SERVER),--server $(SERVER))

# The offload device package (device/): calibration, cascade, v2 client, queue; trains the small models (seconds).
device-test: venv
	python -m pytest tests/device

# The molecule scenario over the same lab: converge, idempotence, verify, failover side effect, verify, destroy.
molecule: venv
	molecule test -s lab

clean:
	rm -rf build tests/output .pytest_cache .ruff_cache

distclean: clean
	rm -rf $(VENV)
