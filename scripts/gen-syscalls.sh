#!/usr/bin/env bash
# Writes protocol/src/seccomp/syscalls.rs, the x86_64 syscall names the OCI seccomp profiles of
# boxes may use, from the installed kernel headers (linux-libc-dev). Numbers never change once
# a kernel has them; run this when a newer kernel adds calls, and commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
header=/usr/include/x86_64-linux-gnu/asm/unistd_64.h
out=protocol/src/seccomp/syscalls.rs
[ -r "$header" ] || { echo "$header is missing: apt-get install linux-libc-dev" >&2; exit 1; }
entries=$(grep '^#define __NR_' "$header" | awk '{ sub("__NR_", "", $2); print $2, $3 }' | LC_ALL=C sort)
{
    echo '//! x86_64 system call numbers by name, from Linux'"'"'s `arch/x86/entry/syscalls/syscall_64.tbl`'
    echo '//! (as installed in `asm/unistd_64.h`); sorted by name for binary search. Regenerate with'
    echo '//! `scripts/gen-syscalls.sh` when a kernel adds calls.'
    echo
    echo '/// (name, number), sorted by name.'
    echo "pub const SYSCALLS: [(&str, u32); $(echo "$entries" | wc -l)] = ["
    echo "$entries" | awk '{ printf "    (\"%s\", %s),\n", $1, $2 }'
    echo '];'
} > "$out"
