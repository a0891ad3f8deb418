#!/usr/bin/env bash
# How long RocksDB's C++ (the librocksdb-sys crate this workspace builds)
# takes to compile with each compiler and flag set, on one core: every 17th
# source file of the crate's list (20 files), compiled one after another
# with the flags librocksdb-sys's build script passes. The numbers behind
# the release profile's `-O2`, no debug info, and `CXX = "clang++"`
# (BENCHMARKS.md, "Building RocksDB").
#
#   bash benches/rocksdb_compile.sh            # the six configurations
#   bash benches/rocksdb_compile.sh clang++ -O2
#
# Run it with nothing else running; it prints the load average before and after.
set -euo pipefail
REG="${CARGO_HOME:-$HOME/.cargo}/registry/src"
SRC=$(ls -d "$REG"/*/librocksdb-sys-0.19.0+11.8.1 2>/dev/null | head -1)
LZ4=$(ls -d "$REG"/*/lz4-sys-*/liblz4/lib 2>/dev/null | head -1)
if [ -z "$SRC" ] || [ -z "$LZ4" ]; then
  echo "run 'cargo fetch' first (librocksdb-sys and lz4-sys sources not in $REG)" >&2
  exit 1
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

compile_all() {
  local cxx="$1"; shift
  local files start end
  files=$(awk 'NR % 17 == 0' "$SRC/rocksdb_lib_sources.txt")
  start=$(date +%s.%N)
  for f in $files; do
    (cd "$SRC" && "$cxx" "$@" -ffunction-sections -fdata-sections -fPIC -fno-omit-frame-pointer \
      -m64 -march=x86-64 -msse2 -std=c++20 -w -include cstdint \
      -I rocksdb/include/ -I rocksdb/ -I rocksdb/third-party/gtest-1.8.1/fused-src/ -I "$LZ4" -I . \
      -DLZ4=1 -DNDEBUG=1 -DHAVE_ALIGNED_NEW -DHAVE_UINT128_EXTENSION -DOS_LINUX \
      -DROCKSDB_PLATFORM_POSIX -DROCKSDB_LIB_IO_POSIX -DROCKSDB_SCHED_GETCPU_PRESENT \
      -DROCKSDB_AUXV_GETAUXVAL_PRESENT -DROCKSDB_FALLOCATE_PRESENT -DROCKSDB_RANGESYNC_PRESENT \
      -o "$OUT/x.o" -c "rocksdb/$f")
  done
  end=$(date +%s.%N)
  printf '%-12s %-8s %6.1f s for %d files\n' "$cxx" "$*" "$(echo "$end - $start" | bc)" "$(echo "$files" | wc -w)"
}

uptime
if [ $# -gt 0 ]; then
  compile_all "$@"
else
  for cfg in "g++ -O3 -g" "g++ -O3" "g++ -O2" "g++ -O1" "clang++ -O2" "clang++ -O1"; do
    # shellcheck disable=SC2086
    compile_all $cfg
  done
fi
uptime
