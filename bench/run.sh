#!/usr/bin/env bash
# bench/run.sh: measure airgw against two baselines in the same run, the fake
# provider called directly ("direct") and a bare httputil.ReverseProxy in
# front of it ("proxy"), and print the DESIGN.md §8 figures as differences
# and ratios. See bench/README.md.
#
# Environment (defaults in brackets):
#   DURATION     measured seconds per run [10]
#   WARMUP       unmeasured warm-up per run, Go duration [2s]
#   RATES        fixed rates, req/s [500 1000 2000]
#   CONCURRENCY  closed-loop workers for the saturation run [64]
#   STREAM_RATE  fixed rate of the streaming run, req/s [200]
#   CHUNKS       chunks per streamed response [16]
#   CHUNK_INTERVAL  delay between streamed chunks, Go duration [1ms]
#   TARGETS      which targets to measure [direct proxy airgw]
#   STREAMS      streams held open at once in the memory run, 0: skip [5000]
#   OVERLOAD=0   skip the overload run (open loop at twice saturation)
#   QUICK=1      DURATION=2 WARMUP=500ms: the load phase ends in under 60 s
#   PIN=0        do not pin processes to CPUs
#   OUT          results directory [bench/out/<UTC time>]
#   MAX_TOTAL    hard limit on the whole script, seconds [1800]
#   KEEP_TMP=1   keep the temporary directory (binaries, config, logs)
#   SOAK         seconds: instead of the scenarios, load airgw alone for
#                that long (SOAK_RATE req/s, a quarter of them streamed),
#                sample its RSS every 10 s and report the slope after the
#                first tenth, and its goroutines before and after (T25)
#   SOAK_RATE    requests/s of the soak [300]
#
# Everything listens on 127.0.0.1 only; every load run is bounded in time.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	DURATION=${DURATION:-2}
	WARMUP=${WARMUP:-500ms}
else
	DURATION=${DURATION:-10}
	WARMUP=${WARMUP:-2s}
fi
RATES=${RATES:-"500 1000 2000"}
CONCURRENCY=${CONCURRENCY:-64}
STREAM_RATE=${STREAM_RATE:-200}
CHUNKS=${CHUNKS:-16}
CHUNK_INTERVAL=${CHUNK_INTERVAL:-1ms}
TARGETS=${TARGETS:-"direct proxy airgw"}
STREAMS=${STREAMS:-5000}
OVERLOAD=${OVERLOAD:-1}
PIN=${PIN:-1}
MAX_TOTAL=${MAX_TOTAL:-1800}
OUT=${OUT:-$ROOT/bench/out/$(date -u +%Y%m%dT%H%M%SZ)}
SOAK=${SOAK:-0}
SOAK_RATE=${SOAK_RATE:-300}
if ! [[ $SOAK =~ ^[0-9]+$ && $SOAK_RATE =~ ^[0-9]+$ && $SOAK_RATE -ge 4 ]]; then
	echo "run.sh: SOAK must be whole seconds and SOAK_RATE at least 4, got '$SOAK' and '$SOAK_RATE'" >&2
	exit 2
fi
if [[ $SOAK -gt 0 ]]; then
	TARGETS="direct airgw" # direct only for the smoke test
	MAX_TOTAL=$((MAX_TOTAL > SOAK + 600 ? MAX_TOTAL : SOAK + 600))
fi

if ! [[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 600 ]]; then
	echo "run.sh: DURATION must be whole seconds in [1, 600], got '$DURATION'" >&2
	exit 2
fi
for t in $TARGETS; do
	case $t in direct | proxy | airgw) ;; *)
		echo "run.sh: unknown target '$t' (want direct, proxy, airgw)" >&2
		exit 2
		;;
	esac
done
case " $TARGETS " in *" direct "*) ;; *)
	echo "run.sh: TARGETS must include direct: every figure is relative to it" >&2
	exit 2
	;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/airgw-bench.XXXXXX")
mkdir -p "$OUT"
PIDS=()
WATCHDOG=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n $WATCHDOG ]]; then
		kill "$WATCHDOG" 2>/dev/null || true
		wait "$WATCHDOG" 2>/dev/null || true
	fi
	if [[ ${KEEP_TMP:-0} == 1 ]]; then
		echo "run.sh: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The watchdog ends the script if it runs past MAX_TOTAL seconds; it sleeps
# in one-second steps so that killing it leaves nothing behind.
(
	for ((i = 0; i < MAX_TOTAL; i++)); do sleep 1; done
	echo "run.sh: MAX_TOTAL=${MAX_TOTAL}s exceeded, stopping" >&2
	kill -TERM $$
) &
WATCHDOG=$!

# CPU placement: the process under test (fake-direct, proxy or airgw) alone
# on one CPU, the load generator and the upstream fake on the other. Go sets
# GOMAXPROCS from the affinity mask, so the process under test runs on one
# core, as DESIGN.md §8 asks.
LOAD_CPU= SUT_CPU=
if [[ $PIN == 1 ]] && command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
	LOAD_CPU=0
	SUT_CPU=1
	PLACEMENT="pinned with taskset: process under test on CPU $SUT_CPU; loadgen and upstream fake on CPU $LOAD_CPU"
else
	PLACEMENT="NOT pinned (PIN=0, no taskset or fewer than 2 CPUs): all processes share all CPUs"
fi
on_cpu() { # on_cpu CPU CMD...: run CMD pinned to CPU when pinning is on
	local cpu=$1
	shift
	if [[ -n $cpu ]]; then
		taskset -c "$cpu" "$@"
	else
		"$@"
	fi
}

# start NAME CPU CMD...: start CMD in the background, logging to $tmp/NAME.log.
start() {
	local name=$1 cpu=$2
	shift 2
	# Not through on_cpu: a backgrounded function would run in a subshell
	# and $! would be the subshell's pid, not the server's.
	if [[ -n $cpu ]]; then
		taskset -c "$cpu" "$@" >"$tmp/$name.log" 2>&1 &
	else
		"$@" >"$tmp/$name.log" 2>&1 &
	fi
	PIDS+=($!)
	eval "PID_${name//-/_}=$!"
}

# listen_addr NAME: wait for "listening on ADDR" in NAME's log and print ADDR.
listen_addr() {
	local name=$1 addr
	for ((i = 0; i < 100; i++)); do
		addr=$(sed -n 's/^listening on //p' "$tmp/$name.log" | head -n 1)
		if [[ -n $addr ]]; then
			echo "$addr"
			return 0
		fi
		sleep 0.1
	done
	echo "run.sh: $name did not start; its log:" >&2
	cat "$tmp/$name.log" >&2
	return 1
}

free_port() {
	local p
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000)) # below the ephemeral ports (32768 and up)
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "run.sh: no free port found" >&2
	return 1
}

rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }

echo "== airgw bench  $(date -u +%Y-%m-%dT%H:%M:%SZ)  commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "   $(go version), $(nproc) CPUs, $(uname -r)"
echo "   $PLACEMENT"
echo "   targets: $TARGETS; duration ${DURATION}s + warm-up $WARMUP per run; rates: $RATES req/s;"
echo "   saturation: closed loop, $CONCURRENCY workers; stream: $STREAM_RATE req/s, $CHUNKS chunks, $CHUNK_INTERVAL apart"
echo "   results: $OUT"

echo "-- building"
go build -o "$tmp/" ./bench/fakeprovider ./bench/proxy ./bench/loadgen ./bench/report
case " $TARGETS " in *" airgw "*)
	if ! go build -o "$tmp/airgw" ./cmd/airgw; then
		echo "run.sh: cannot build ./cmd/airgw; to measure the baselines alone, run with TARGETS='direct proxy'" >&2
		exit 1
	fi
	;;
esac

FAKE_FLAGS=(-chunks "$CHUNKS" -chunk-interval "$CHUNK_INTERVAL")
URL_direct= URL_proxy= URL_airgw= KEY=bench

# The upstream fake serves the proxy and airgw; fake-direct is a second,
# identical fake that is itself the process under test for "direct".
# fake-slow holds streams open (20 chunks 500 ms apart: 10 s each) for the
# memory run: its upstream model is bench-slow, behind proxy-slow and
# airgw's model bench-slow.
start fake-up "$LOAD_CPU" "$tmp/fakeprovider" -addr 127.0.0.1:0 "${FAKE_FLAGS[@]}"
start fake-direct "$SUT_CPU" "$tmp/fakeprovider" -addr 127.0.0.1:0 "${FAKE_FLAGS[@]}"
start fake-slow "$LOAD_CPU" "$tmp/fakeprovider" -addr 127.0.0.1:0 -chunks 20 -chunk-interval 500ms
UP_ADDR=$(listen_addr fake-up)
SLOW_ADDR=$(listen_addr fake-slow)
URL_direct="http://$(listen_addr fake-direct)/v1/chat/completions"
PID_direct=$PID_fake_direct

case " $TARGETS " in *" proxy "*)
	start proxy "$SUT_CPU" "$tmp/proxy" -addr 127.0.0.1:0 -upstream "http://$UP_ADDR"
	URL_proxy="http://$(listen_addr proxy)/v1/chat/completions"
	if [[ $STREAMS -gt 0 ]]; then
		start proxy-slow "$SUT_CPU" "$tmp/proxy" -addr 127.0.0.1:0 -upstream "http://$SLOW_ADDR"
		URL_proxy_slow="http://$(listen_addr proxy-slow)/v1/chat/completions"
	fi
	;;
esac

case " $TARGETS " in *" airgw "*)
	AIRGW_PORT=$(free_port)
	# Every feature on, as DESIGN.md §8 asks: a gateway-wide budget and
	# limits; a team with a budget, limits (concurrency included), per-user
	# defaults and its own policy; gateway policies with every PII detector,
	# a deny pattern and max_tokens; a key with its own budget and limits;
	# the end user of the request body (created on first use); the durable
	# audit spool (the default writer), /metrics, and one access log line per
	# request (level info, into airgw.log). The limits are far above what
	# the bench sends, so that every request does all the work and passes.
	cat >"$tmp/airgw.yaml" <<EOF
server: {listen: 127.0.0.1:$AIRGW_PORT}
storage: {sqlite: $tmp/airgw.db}
log: {level: info}
providers:
  fake: {type: openai_compatible, base_url: http://$UP_ADDR/v1, api_key: bench, allow_private_network: true}
  slow: {type: openai_compatible, base_url: http://$SLOW_ADDR/v1, api_key: bench, allow_private_network: true}
models:
  bench-model:
    targets: [{provider: fake, model: bench-model}]
    price: {input_per_mtok: 1, output_per_mtok: 2}
  bench-slow:
    targets: [{provider: slow, model: bench-slow}]
    price: {input_per_mtok: 1, output_per_mtok: 2}
budget: {limit_usd: 1000000000, period: monthly}
limits: {rpm: 100000000, tpm: 1000000000}
policies:
  max_prompt_tokens: 100000
  max_tokens: {limit: 4096, action: clamp}
  pii: {action: redact, detect: [email, phone, credit_card, iban, us_ssn, ip_address, secret]}
  deny_patterns: {override: "(?i)ignore (all )?previous instructions"}
teams:
  bench:
    models: [bench-model, bench-slow]
    budget: {limit_usd: 1000000000, period: monthly}
    limits: {rpm: 100000000, tpm: 1000000000, concurrent: 100000}
    users:
      budget: {limit_usd: 1000000, period: daily}
      limits: {rpm: 100000000}
    policies:
      pii: {action: block, detect: [secret]}
EOF
	"$tmp/airgw" keys create --config "$tmp/airgw.yaml" --name bench --team bench \
		--budget-usd 1000000000 --rpm 100000000 --tpm 1000000000 --json >"$tmp/key.json"
	KEY=$(tr -d '\n' <"$tmp/key.json" | sed -n 's/.*"key"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
	if [[ -z $KEY ]]; then
		echo "run.sh: no \"key\" in the output of 'airgw keys create':" >&2
		cat "$tmp/key.json" >&2
		exit 1
	fi
	start airgw "$SUT_CPU" "$tmp/airgw" serve --config "$tmp/airgw.yaml"
	if ! "$tmp/loadgen" -wait "http://127.0.0.1:$AIRGW_PORT/readyz" -timeout 30s; then
		echo "run.sh: airgw log:" >&2
		cat "$tmp/airgw.log" >&2
		exit 1
	fi
	URL_airgw="http://127.0.0.1:$AIRGW_PORT/v1/chat/completions"
	;;
esac

# Idle RSS, before any load.
sleep 1
for t in $TARGETS; do
	pid_var=PID_$t
	rss_kib "${!pid_var}" >"$OUT/idle-$t.kib"
done

# loadgen TARGET SCENARIO ARGS...: one bounded run against TARGET.
loadgen() {
	local t=$1 scenario=$2
	shift 2
	local url_var=PID_$t
	local pid=${!url_var}
	url_var=URL_$t
	# Every target gets the same body, with an end user that airgw's team
	# gives a budget and limits.
	local args=(-url "${!url_var}" -label "$t" -json "$OUT/$t-$scenario.json" -pid "target=$pid" -user bench-user)
	if [[ $t != direct ]]; then
		args+=(-pid "upstream=$PID_fake_up")
	fi
	local key=bench
	if [[ $t == airgw ]]; then key=$KEY; fi
	on_cpu "$LOAD_CPU" timeout $((${SOAK:-0} > 0 ? SOAK + 90 : DURATION + 90)) "$tmp/loadgen" "${args[@]}" -key "$key" "$@"
}

# A handful of requests per target first, so that a broken target fails the
# script now rather than producing a table of errors.
echo "-- smoke test"
for t in $TARGETS; do
	loadgen "$t" smoke -concurrency 1 -n 5 -duration 10s
	if ! grep -q '"ok": 5,' "$OUT/$t-smoke.json"; then
		echo "run.sh: $t failed the smoke test (see $OUT/$t-smoke.json)" >&2
		exit 1
	fi
	rm -f "$OUT/$t-smoke.json"
done
for t in $TARGETS; do
	loadgen "$t" smoke -concurrency 1 -n 3 -duration 10s -stream >/dev/null
	if ! grep -q '"ok": 3,' "$OUT/$t-smoke.json"; then
		echo "run.sh: $t failed the streaming smoke test (see $OUT/$t-smoke.json)" >&2
		exit 1
	fi
	rm -f "$OUT/$t-smoke.json"
done

# The soak (T25): airgw alone under steady load; memory must be flat after
# the warm-up (slope under 5 MiB/h) and the goroutines back to their
# number before the load once it ends.
goroutines() { curl -fsS "http://127.0.0.1:$AIRGW_PORT/metrics" | sed -n 's/^go_goroutines \([0-9]*\).*/\1/p'; }
if [[ $SOAK -gt 0 ]]; then
	echo "-- soak: ${SOAK}s at $SOAK_RATE req/s (a quarter streamed), RSS every 10 s"
	g0=$(goroutines)
	loadgen airgw soak -rate "$((SOAK_RATE * 3 / 4))" -duration "${SOAK}s" -warmup 0s >/dev/null &
	lg1=$!
	loadgen airgw soak-stream -stream -rate "$((SOAK_RATE / 4))" -duration "${SOAK}s" -warmup 0s >/dev/null &
	lg2=$!
	: >"$OUT/soak-rss.tsv"
	t0=$(date +%s)
	while kill -0 "$lg1" 2>/dev/null || kill -0 "$lg2" 2>/dev/null; do
		echo "$(($(date +%s) - t0))	$(rss_kib "$PID_airgw")" >>"$OUT/soak-rss.tsv"
		sleep 10
	done
	wait "$lg1" "$lg2" || true
	# Connections close and streams end; airgw's idle connections to the
	# provider (two goroutines each) close after 90 s unused.
	for _ in $(seq 20); do
		sleep 5
		g1=$(goroutines)
		[[ ${g1:-1} -le ${g0:-0} ]] && break
	done
	{
		echo "== soak: airgw, ${SOAK}s at $SOAK_RATE req/s ($PLACEMENT)"
		for f in soak soak-stream; do
			sed -n 's/.*"requests": *\([0-9]*\).*/requests \1/p; s/.*"ok": *\([0-9]*\).*/ok \1/p' "$OUT/airgw-$f.json" | tr '\n' ' '
			echo "($f)"
		done
		# Least-squares slope of RSS over time, after the first tenth.
		awk -v skip="$((SOAK / 10))" '$1 >= skip { n++; x += $1; y += $2 / 1024; xx += $1 * $1; xy += $1 * $2 / 1024 }
			END { if (n < 3) { print "RSS slope: too few samples"; exit }
				b = (n * xy - x * y) / (n * xx - x * x)
				printf "RSS slope after the warm-up: %.2f MiB/h over %d samples [budget < 5 MiB/h: %s]\n", b * 3600, n, (b * 3600 < 5 ? "within" : "OVER") }' "$OUT/soak-rss.tsv"
		awk 'NR == 1 { first = $2 } { last = $2; if ($2 > max) max = $2 } END { printf "RSS: %.1f MiB at the start, %.1f MiB at the end, %.1f MiB peak\n", first / 1024, last / 1024, max / 1024 }' "$OUT/soak-rss.tsv"
		echo "goroutines: $g0 before the load, $g1 after [$([[ ${g1:-1} -le ${g0:-0} ]] && echo "back to baseline" || echo "NOT back to baseline")]"
	} | tee "$OUT/soak.txt"
	exit 0
fi

# Scenario-major order: every scenario runs against all targets back to
# back, so that the machine's drift hits them alike.
echo "-- saturation (closed loop, $CONCURRENCY workers)"
for t in $TARGETS; do
	loadgen "$t" sat -concurrency "$CONCURRENCY" -duration "${DURATION}s" -warmup "$WARMUP"
done
for r in $RATES; do
	echo "-- fixed rate $r req/s (open loop)"
	for t in $TARGETS; do
		loadgen "$t" "rate$r" -rate "$r" -duration "${DURATION}s" -warmup "$WARMUP"
	done
done
echo "-- streaming, fixed rate $STREAM_RATE req/s"
for t in $TARGETS; do
	loadgen "$t" stream -stream -rate "$STREAM_RATE" -duration "${DURATION}s" -warmup "$WARMUP"
done

# Memory with many streams held open at once: STREAMS streams of 10 s each
# opened over 5 s (an open loop at STREAMS/5 per second: all are open at
# the 5th second), against the slow fake (through proxy-slow, and airgw's
# model bench-slow); the peak RSS of the run is the figure. Before the
# overload run, whose backlog would leave the heap grown.
if [[ $STREAMS -gt 0 ]]; then
	echo "-- $STREAMS concurrent streams (memory)"
	for t in $TARGETS; do
		url= pid= key=bench
		case $t in
		proxy) url=$URL_proxy_slow pid=$PID_proxy_slow ;;
		airgw) url=$URL_airgw pid=$PID_airgw key=$KEY ;;
		*) continue ;;
		esac
		on_cpu "$LOAD_CPU" timeout $((DURATION + 120)) "$tmp/loadgen" -url "$url" -label "$t" \
			-json "$OUT/$t-streams.json" -pid "target=$pid" -pid "upstream=$PID_fake_slow" -user bench-user -key "$key" \
			-model bench-slow -stream -rate "$((STREAMS / 5))" -duration 5s -warmup 0s -timeout 60s
	done
fi

# Overload: an open loop at twice the target's own saturation throughput.
# A gateway should answer the excess at once (429/503), not queue it for
# seconds.
if [[ $OVERLOAD == 1 ]]; then
	echo "-- overload (open loop at twice each target's saturation throughput)"
	for t in $TARGETS; do
		[[ $t == direct ]] && continue
		tput=$(sed -n 's/.*"throughput_rps": *\([0-9.]*\).*/\1/p' "$OUT/$t-sat.json" | head -n 1)
		rate=$(awk -v t="${tput:-0}" 'BEGIN { printf "%.0f", t * 2 }')
		if [[ $rate -lt 1 ]]; then
			echo "run.sh: no saturation throughput for $t; overload run skipped" >&2
			continue
		fi
		loadgen "$t" overload -rate "$rate" -duration "${DURATION}s" -warmup "$WARMUP"
	done
fi

echo
echo "== results ($PLACEMENT)"
"$tmp/report" -dir "$OUT" | tee "$OUT/summary.txt"
"$tmp/report" -dir "$OUT" -markdown >"$OUT/summary.md"
echo
echo "JSON reports, summary.txt and summary.md are in $OUT"
