#!/usr/bin/env bash
# bench/audit.sh: the audit trail's full-size runs (RELIABILITY.md T13, T14,
# T15, T17 and the query figures at 10 million records). Each step prints
# FIGURE lines; docs/reliability.md (Audit) holds the results.
#
#   bench/audit.sh                 everything (about an hour on 2 cores)
#   STEPS='verify outage' bench/audit.sh
#
# Variables: STEPS (kill9 verify query outage slow), RECORDS_VERIFY
# (1000000), RECORDS_QUERY (10000000), KILLS (20), WORKERS (16), RUN_MS
# (3000), RATE (1000), DOWN (2m), FOR (3m), SLOW (200ms). Everything runs on
# 127.0.0.1 and in temporary directories, and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-"kill9 verify query outage slow"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/auditbench" ./bench/auditbench
for step in $STEPS; do
	echo "== $step"
	case $step in
	kill9) # T13: the built binary under load, SIGKILLed and restarted
		AIRGW_T13_KILLS=${KILLS:-20} AIRGW_T13_WORKERS=${WORKERS:-16} AIRGW_T13_RUN_MS=${RUN_MS:-3000} \
			go test -count=1 -timeout 60m -run TestKill9LosesNoRecord -v ./cmd/airgw | grep -E 'FIGURE|FAIL|ok' ;;
	verify) # T17 and verification time at full size
		"$tmp/auditbench" verify -n "${RECORDS_VERIFY:-1000000}" ;;
	query) # export and usage times at 10 million records
		"$tmp/auditbench" query -n "${RECORDS_QUERY:-10000000}" ;;
	outage) # T14: the database down for minutes under a steady flow
		"$tmp/auditbench" outage -rate "${RATE:-1000}" -for "${FOR:-3m}" -down "${DOWN:-2m}" ;;
	slow) # T15: the database slow for the whole run
		"$tmp/auditbench" outage -rate "${RATE:-1000}" -for "${FOR:-3m}" -slow "${SLOW:-200ms}" ;;
	*) echo "unknown step $step" >&2; exit 2 ;;
	esac
done
