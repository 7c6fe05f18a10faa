#!/usr/bin/env bash
# Refuses a Lambda bootstrap that needs a newer glibc than the runtime has (provided.al2023:
# 2.34), as a natively linked binary can; prints each one's size and the glibc it needs.
# Usage: scripts/lambda-glibc.sh MAX_GLIBC BIN...
set -euo pipefail
max="$1"; shift
for b in "$@"; do
  file="target/lambda/$b/bootstrap"
  need="$(objdump -T "$file" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)"
  if [ "$(printf '%s\n%s\n' "$need" "$max" | sort -V | tail -1)" != "$max" ]; then
    echo "$b needs glibc $need; Lambda's provided.al2023 has $max: build on an older system or with zig (drop --compiler cargo)" >&2
    exit 1
  fi
  echo "$b: $(du -k "$file" | cut -f1) KiB, needs glibc $need (runtime has $max)"
done
