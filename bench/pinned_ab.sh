#!/usr/bin/env bash
# Pinned A/B of CPU per request: each variant alone on CPU 1, everything else (wrk, the nginx
# backends, every other process on the machine) on CPU 0; main-thread and whole-process CPU per
# request read from /proc/PID/task/*/stat around a wrk run (small JSON POST, 64 connections unless CONNS says otherwise).
# Variants alternate round by round. This machine's host swings a build's figures by up to 2x
# between runs, so compare minima and medians over several rounds, never one run.
#
# usage: bench/pinned_ab.sh ROUNDS 'name|dir|command' ...
#   in a command, DENO is this Deno binary, PORT the port to listen on (19099) and BACKENDS the
#   balancer's --backend flags for the three nginx backends (ports 19001-19003).
# example:
#   bench/pinned_ab.sh 5 \
#     "floor-net|.|DENO run -A bench/floors/net_floor.ts PORT http://127.0.0.1:19001 http://127.0.0.1:19002 http://127.0.0.1:19003" \
#     "roundabout|.|DENO run -A main.ts balance --port PORT BACKENDS --access-log off"
# env: DUR (seconds measured, default 5), CONNS (wrk connections, default 64). Needs root (taskset on every process), nginx, wrk.
set -uo pipefail
rounds=$1; shift
here=$(cd "$(dirname "$0")/.." && pwd)
deno_bin=$(npx --prefer-offline -y deno@2.9.6 eval 'console.log(Deno.execPath())')
port=19099
# /proc reports CPU time in clock ticks: microseconds per tick.
us_per_tick=$((1000000 / $(getconf CLK_TCK)))
backends="--backend http://127.0.0.1:19001 --backend http://127.0.0.1:19002 --backend http://127.0.0.1:19003"
dir=$(mktemp -d)
mkdir -p "$dir/www"
sed -e "s#{{DIR}}#$dir#g" -e "s/{{PORT_A}}/19001/; s/{{PORT_B}}/19002/; s/{{PORT_C}}/19003/" \
  "$here/harness/nginx_backend.conf" > "$dir/nginx.conf"
pin_all() { for p in $(ps -eo pid --no-headers); do taskset -a -p -c "$1" "$p" >/dev/null 2>&1; done; }
cleanup() { pin_all 0-1; [ -f "$dir/nginx-backend.pid" ] && kill "$(cat "$dir/nginx-backend.pid")"; rm -rf "$dir"; }
trap cleanup EXIT
pin_all 0
nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" &
sleep 1
load() { taskset -c 0 wrk -t1 -c"${CONNS:-64}" -d"$1"s -s "$here/harness/post.lua" "http://127.0.0.1:$port/echo" 2>&1; }
cpu_by_thread() { for t in /proc/"$1"/task/*; do echo "$(basename "$t") $(awk '{print $14+$15}' "$t/stat")"; done | sort; }
for _ in $(seq "$rounds"); do
  for variant in "$@"; do
    name=${variant%%|*}; rest=${variant#*|}; cwd=${rest%%|*}; cmd=${rest#*|}
    cmd=${cmd//DENO/$deno_bin}; cmd=${cmd//BACKENDS/$backends}; cmd=${cmd//PORT/$port}
    (cd "$cwd" && exec taskset -c 1 $cmd) > "$dir/$name.log" 2>&1 &
    for _ in $(seq 100); do ss -ltn "sport = :$port" | grep -q LISTEN && break; sleep 0.1; done
    pid=$(ss -ltnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
    load 2 >/dev/null # warm-up
    cpu_by_thread "$pid" > "$dir/before"
    out=$(load "${DUR:-5}")
    cpu_by_thread "$pid" > "$dir/after"
    requests=$(echo "$out" | grep -o '"requests":[0-9]*' | cut -d: -f2)
    join "$dir/before" "$dir/after" | awk -v n="$requests" -v pid="$pid" -v d="${DUR:-5}" \
      -v name="$name" -v tick="$us_per_tick" '
      { dt = $3 - $2; total += dt; if ($1 == pid) main = dt }
      END { printf "%-24s req/s %7d  process %6.1f us/req  main thread %6.1f us/req\n", name, n / d, total * tick / n, main * tick / n }'
    kill "$pid"; wait "$pid" 2>/dev/null; sleep 0.3
  done
done
