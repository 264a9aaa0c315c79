#!/usr/bin/env bash
# Clinic benchmark (issue 11): $everything of a 100-consult record (p99 ≤ 20 ms) and
# the department queue page with 10,000 patients (p99 ≤ 10 ms). Data set: see
# crates/cunlink/examples/clinic_bench.rs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo run --release -p cunlink --example clinic_bench
