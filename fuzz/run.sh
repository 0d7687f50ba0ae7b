#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), on the stable
# toolchain, installing cargo-fuzz first if it is missing.
#
#   fuzz/run.sh [SECONDS]
#
# Environment:
#   FUZZ_TARGETS="ws_frame json_bodies"  run only these targets
#   FUZZ_SANITIZER=address               build with AddressSanitizer (needs
#                                        RUSTC_BOOTSTRAP=1 on stable, set here);
#                                        default `none`: plain coverage-guided
#                                        fuzzing, debug assertions on
#
# Inputs found interesting are kept in fuzz/corpus/TARGET (git-ignored); the
# committed seeds are in fuzz/seeds/TARGET. A crash leaves its input in
# fuzz/artifacts/TARGET/ and makes this script exit 1 after all targets ran;
# replay one with `cargo fuzz run --sanitizer none TARGET fuzz/artifacts/TARGET/crash-...`.
set -euo pipefail

secs="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

sanitizer="${FUZZ_SANITIZER:-none}"
if [ "$sanitizer" != none ]; then
    # cargo-fuzz passes -Zsanitizer=...; stable rustc accepts it this way.
    export RUSTC_BOOTSTRAP=1
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"

echo "== building fuzz targets (sanitizer: $sanitizer)"
cargo fuzz build --sanitizer "$sanitizer"

failed=()
for target in $targets; do
    echo "== fuzzing $target for ${secs}s"
    mkdir -p "fuzz/corpus/$target"
    args=(-max_total_time="$secs" -timeout=10 -print_final_stats=1)
    case "$target" in
        proto_requests) ;;
        *) args+=(-dict="$root/fuzz/dicts/json.dict") ;;
    esac
    if ! cargo fuzz run --sanitizer "$sanitizer" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- "${args[@]}"; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "== fuzzing found crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "== no crash in: $targets"
