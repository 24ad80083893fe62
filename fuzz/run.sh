#!/usr/bin/env bash
# Runs every cargo-fuzz target (codec and session) for SECONDS each, one after the other.
#
#   fuzz/run.sh SECONDS
#
# Installs cargo-fuzz if missing; uses the nightly toolchain when rustup has one, otherwise
# stable with RUSTC_BOOTSTRAP=1. Each target starts from a scratch copy of its checked-in seed
# corpus in fuzz/corpus-work/ (git-ignored), so what libFuzzer discovers does not bloat
# fuzz/corpus/. Prints each target's executions and crashes; exits non-zero if any crashed.
# Crashing inputs are left in fuzz/artifacts/<target>/: fix the bug, then copy the input into
# fuzz/corpus/<target>/ so `cargo test` replays it from then on.
set -euo pipefail

secs=${1:?usage: fuzz/run.sh SECONDS}
fuzz_dir=$(cd "$(dirname "$0")" && pwd)
cd "$fuzz_dir/.."

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz
fi

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

targets=$(cargo "${toolchain[@]}" fuzz list --fuzz-dir "$fuzz_dir")
mkdir -p "$fuzz_dir/corpus-work/logs"
status=0
summary=()
for target in $targets; do
    work="$fuzz_dir/corpus-work/$target"
    log="$fuzz_dir/corpus-work/logs/$target.log"
    mkdir -p "$work" "$fuzz_dir/artifacts/$target"
    cp -n "$fuzz_dir/corpus/$target/"* "$work/" 2>/dev/null || true
    before=$(ls "$fuzz_dir/artifacts/$target" | wc -l)
    echo "== $target: fuzzing for ${secs}s (log: $log)"
    # -max_len keeps mutated inputs small (the largest seeds are 20 kB captures);
    # -print_final_stats prints the executed-units count at the end.
    set +e
    cargo "${toolchain[@]}" fuzz run --fuzz-dir "$fuzz_dir" "$target" "$work" -- \
        -max_total_time="$secs" -max_len=4096 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    after=$(ls "$fuzz_dir/artifacts/$target" | wc -l)
    crashes=$((after - before))
    done_line=$(grep -E '^Done [0-9]+ runs' "$log" | tail -n1 || true)
    execs=$(grep -E '^stat::number_of_executed_units:' "$log" | tail -n1 | awk '{print $2}' || true)
    echo "   ${done_line:-no final 'Done' line (crashed or failed to build)}"
    echo "   executions: ${execs:-unknown}, crashes: $crashes, exit code: $rc"
    summary+=("$target: executions ${execs:-unknown}, crashes $crashes, exit $rc")
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        status=1
        grep -E 'panicked at|ERROR: libFuzzer|Test unit written to' "$log" | head -n 5 || true
    fi
done

echo "== summary"
printf '   %s\n' "${summary[@]}"
exit "$status"
