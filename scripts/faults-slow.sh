#!/usr/bin/env bash
# The fault-injection suite at full size (issue 7): the same tests as `cargo test --test it
# faults`, built with --release and scaled up by HERALD_FAULTS_SCALE (default 5): SIGKILL in
# the middle of a drain of 50,000 deliveries, 4 replicas draining 50,000, plus everything else
# at its normal size. CI runs it after `cargo test`.
#
# Uses HERALD_TEST_DATABASE_URL / DATABASE_URL when set, else a throwaway cluster from the local
# PostgreSQL binaries. The measured counts (duplicates after the crash, throughput) are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
export HERALD_FAULTS_SCALE="${HERALD_FAULTS_SCALE:-5}"
exec cargo test --release --test it faults -- --nocapture --test-threads="${FAULTS_THREADS:-2}" "$@"
