#!/usr/bin/env bash
# run.sh [compare flags] [NAME=COMMAND ...]
#
# Builds this library's echo server, the four peer echo servers, the runner
# and the chart program into bin/, runs the comparison (results/latest.md,
# results/latest.json) and draws results/latest.svg. All arguments are
# passed to bin/compare; see `bin/compare -h` once built.
#
#   ./run.sh                       # everything, 3 repetitions
#   ./run.sh -reps 1 -scenarios tp32,hs
#   ./run.sh -servers wsproject,gws 'mine=/abs/path/to/echo-server'
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	PATH="$PATH:/usr/local/go/bin"
fi

mkdir -p bin
for cmd in wsecho echo-gorilla echo-coder echo-gobwas echo-gws compare chart; do
	go build -o "bin/$cmd" "./cmd/$cmd"
done

out=results
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case "${args[i]}" in
	-out | --out) out="${args[i + 1]:-results}" ;;
	-out=* | --out=*) out="${args[i]#*=}" ;;
	esac
done
mkdir -p "$out"

status=0
./bin/compare "$@" || status=$?
# Status 1 means some run or check failed but results were written.
if [ "$status" -le 1 ] && [ -f "$out/latest.json" ]; then
	./bin/chart -in "$out/latest.json" -out "$out/latest.svg"
fi
exit "$status"
