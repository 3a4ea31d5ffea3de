#!/usr/bin/env bash
# Runs berth-runtime's fuzz targets: `fuzz/run.sh SECONDS [TARGET...]`
# (`make fuzz` / `make fuzz-smoke`). Every kept input is replayed first
# (plain `cargo test`), then each target fuzzes for SECONDS with libFuzzer.
# Prints the executions of each target; exits non-zero if any target crashed,
# hung (FUZZ_TIMEOUT seconds for one input) or ran out of memory.
#
# Environment: FUZZ_JOBS targets at a time (default: the CPU count),
# FUZZ_SANITIZER none|address (default none: 2-4x the executions; the code
# under test is safe Rust, and `address` is there for a deeper run),
# FUZZ_TIMEOUT (default 10), CARGO.
set -uo pipefail
cd "$(dirname "$0")"

seconds=${1:-300}
shift || true
jobs=${FUZZ_JOBS:-$(nproc)}
sanitizer=${FUZZ_SANITIZER:-none}
per_input_timeout=${FUZZ_TIMEOUT:-10}
cargo=${CARGO:-cargo}
# cargo fuzz passes nightly-only flags; the stable toolchain accepts them
# with RUSTC_BOOTSTRAP (the machine has no nightly).
export RUSTC_BOOTSTRAP=1

if ! $cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    $cargo install cargo-fuzz --locked || exit 1
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <($cargo fuzz list)
    build=("")
else
    build=("${targets[@]}")
fi

echo "== replaying the kept inputs (corpus/ and regressions/)"
# One thread: the console_socket replay checks for leaked fds by the
# lowest free fd number, which another test thread may hold for a moment.
CARGO_TARGET_DIR=target/replay $cargo test --quiet -- --test-threads=1 || exit 1

echo "== building ${targets[*]} (sanitizer: $sanitizer)"
for t in "${build[@]}"; do
    $cargo fuzz build -s "$sanitizer" $t || exit 1
done

mkdir -p work
run_one() {
    local t=$1
    local dirs=("work/$t" "corpus/$t")
    [ -d "regressions/$t" ] && dirs+=("regressions/$t")
    mkdir -p "work/$t"
    local dict=()
    [ -f "dict/$t.dict" ] && dict=("-dict=dict/$t.dict")
    # The outer timeout only guards against libFuzzer itself wedging.
    timeout --kill-after=30 $((seconds + 300)) \
        $cargo fuzz run -s "$sanitizer" "$t" "${dirs[@]}" -- \
        -max_total_time="$seconds" -timeout="$per_input_timeout" -rss_limit_mb=2048 \
        -print_final_stats=1 "${dict[@]}" >"work/$t.log" 2>&1
    echo $? >"work/$t.rc"
}

start=$(date +%s)
running=0
for t in "${targets[@]}"; do
    echo "== fuzzing $t for ${seconds}s"
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

failed=0
printf '\n%-16s %12s %10s %8s  %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
    log=work/$t.log
    rc=$(cat "work/$t.rc" 2>/dev/null || echo 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(ls "work/$t" | wc -l)
    if [ "$rc" = 0 ]; then
        result=ok
    else
        failed=1
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        result="FAILED (exit $rc)${artifact:+, input: $artifact}"
    fi
    printf '%-16s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
done
echo "total $(($(date +%s) - start))s of fuzzing (${seconds}s per target, $jobs at a time)"
if [ "$failed" != 0 ]; then
    for t in "${targets[@]}"; do
        if [ "$(cat "work/$t.rc" 2>/dev/null)" != 0 ]; then
            echo "---- $t: work/$t.log (end)"
            grep -E -A3 'panicked at|^==[0-9]+== ERROR|^SUMMARY|Test unit written|ALARM|out-of-memory' "work/$t.log" | head -40
        fi
    done
    echo "A crash: minimise it (cargo fuzz tmin -s $sanitizer TARGET INPUT), keep it in"
    echo "fuzz/regressions/TARGET/ and add a regression test (fuzz/README.md)."
    exit 1
fi
