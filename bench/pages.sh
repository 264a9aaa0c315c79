#!/usr/bin/env bash
# Page render benchmark: 10,000 devices, 30 days of data, p50/p99 per page.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo run --release -p cunlink --example pages_bench
