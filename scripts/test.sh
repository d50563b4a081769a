#!/usr/bin/env bash
# The test command (`npm test`): bootstrap, start the local stack, run the unit tests, then the integration
# tests against the real Temporal + S3, then the PyTorch engine's pytest suite, and end with one line
# `N passed, M failed` computed from jest's and pytest's results. Extra arguments are passed to jest (e.g. a test path).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh --test || { echo "0 passed, 1 failed"; exit 1; }
# Node 24: the project-local one when the bootstrap installed it (jest, the workers and their children use it)
source scripts/node-env.sh
./bin/seerflow stack up || { echo "0 passed, 1 failed"; exit 1; }

RESULTS="$ROOT/.seerflow/test-results"
rm -rf "$RESULTS" && mkdir -p "$RESULTS"
export TF_CPP_MIN_LOG_LEVEL=2
# Workers in tests log only errors (queue-specific workers warn that they poll only one kind of task).
export SEERFLOW_LOG_LEVEL="${SEERFLOW_LOG_LEVEL:-ERROR}"
npx --no-install jest --selectProjects unit --forceExit --json --outputFile="$RESULTS/unit.json" "$@"
unit_rc=$?
npx --no-install jest --selectProjects integration --runInBand --forceExit --json --outputFile="$RESULTS/integration.json" "$@"
int_rc=$?
# PyTorch engine (torch-engine/tests), from the torch venv; its JUnit XML joins the count below.
.seerflow/torch-venv/bin/python -m pytest -q torch-engine/tests --junitxml="$RESULTS/pytest.xml"
py_rc=$?

node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, suitesFailed = 0;
  for (const f of process.argv.slice(1)) {
    if (!fs.existsSync(f)) { failed += 1; console.error(`no results in ${f}`); continue; }
    if (f.endsWith(".xml")) { // pytest JUnit XML: <testsuite tests= failures= errors= skipped=>
      const n = (k) => [...fs.readFileSync(f, "utf8").matchAll(new RegExp(`<testsuite [^>]*\\b${k}="(\\d+)"`, "g"))].reduce((s, m) => s + Number(m[1]), 0);
      passed += n("tests") - n("failures") - n("errors") - n("skipped"); failed += n("failures") + n("errors"); continue;
    }
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests;
    // a suite that failed to run (syntax error, beforeAll throw) has no failed tests of its own: count it
    for (const s of r.testResults) if (s.status === "failed" && s.assertionResults.every((a) => a.status !== "failed")) suitesFailed++;
  }
  failed += suitesFailed;
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
' "$RESULTS/unit.json" "$RESULTS/integration.json" "$RESULTS/pytest.xml"
summary_rc=$?
if [[ $unit_rc -ne 0 || $int_rc -ne 0 || $py_rc -ne 0 ]]; then exit 1; fi
exit $summary_rc
