#!/usr/bin/env bash
# A real guest walks (find), stats (ls -lR) and copies (cp -a) a tree of FILES small files
# that ferryd serves under a low open-file limit, and must see every file: the number of
# files the guest may know is not bounded by the daemon's fds (it closes idle inodes' fds and
# reopens them on use).
#
#   scripts/bigtree-test.sh [--files N] [--dirs N] [--fds N] [--ferryd PATH] [-- extra ferryd args]
#
# Defaults: --files 20000 --dirs 2000 --fds 2048 (the daemon's budget for the guest is the
# limit minus 1,024 kept for itself). The tree is made fresh in $FERRY_WORK/bigtree; the
# guest's half is scripts/guest/bigtree.sh. Checks: the walk, the stat walk and the copy each
# see every file (and the stat walk every byte), the host finds every copied file, and the
# daemon exits cleanly. Last line: "N passed, N failed"; exit 0 iff nothing failed.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FERRY_WORK=${FERRY_WORK:-$REPO/.work}
files=20000
dirs=2000
fds=2048
ferryd=$REPO/target/release/ferryd
while [[ $# -gt 0 ]]; do
	case $1 in
	--files) files=$2; shift 2 ;;
	--dirs) dirs=$2; shift 2 ;;
	--fds) fds=$2; shift 2 ;;
	--ferryd) ferryd=$2; shift 2 ;;
	--) shift; break ;;
	-h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done

share=$FERRY_WORK/bigtree
rm -rf "$share"
mkdir -p "$share/bigtree/src"
# Directories two levels deep, files spread over them, 0 to 99 bytes each.
python3 - "$share/bigtree/src" "$files" "$dirs" <<'PY'
import os, sys
root, files, dirs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
top = max(1, int(dirs ** 0.5))
paths = []
for d in range(dirs):
    p = os.path.join(root, f"d{d % top:03d}", f"e{d:05d}") if d >= top else os.path.join(root, f"d{d:03d}")
    os.makedirs(p, exist_ok=True)
    paths.append(p)
total = 0
for i in range(files):
    size = i % 100
    with open(os.path.join(paths[i % len(paths)], f"f{i:06d}.txt"), "wb") as f:
        f.write(b"x" * size)
    total += size
with open(os.path.join(root, "..", "expected"), "w") as f:
    f.write(f"{files} {total}\n")
PY
read -r want_files want_bytes <"$share/bigtree/expected"
want_dirs=$(find "$share/bigtree/src" -type d | wc -l)
echo "bigtree: $want_files files, $want_dirs directories, $want_bytes bytes; ferryd --rlimit-nofile=$fds $*"

"$REPO/scripts/vm-test.sh" --daemon ferryd --ferryd "$ferryd" --suites script --script "$REPO/scripts/guest/bigtree.sh" \
	--shared-dir "$share" --fsx-ops 0 --timeout "${BIGTREE_TIMEOUT:-60}" \
	-- --rlimit-nofile="$fds" "$@" | tee "$FERRY_WORK/bigtree.log" | grep -E 'BIGTREE|passed' || true

got() { sed -n "s/.*BIGTREE $1 \([0-9]*\).*/\1/p" "$FERRY_WORK/runs/ferryd/serial.log" | tail -n 1; }
pass=0 fail=0
check() { # name got want
	if [[ $2 == "$3" ]]; then
		pass=$((pass + 1)); echo "bigtree: ok $1 $2"
	else
		fail=$((fail + 1)); echo "bigtree: FAIL $1: got ${2:-nothing}, want $3"
	fi
}
check walk_files "$(got walk_files)" "$want_files"
check walk_dirs "$(got walk_dirs)" "$want_dirs"
check stat_files "$(got stat_files)" "$want_files"
check stat_bytes "$(got stat_bytes)" "$want_bytes"
check copy_files "$(got copy_files)" "$want_files"
check host_copy_files "$(find "$share/bigtree/copy" -type f 2>/dev/null | wc -l)" "$want_files"
check errors "$(grep -c 'BIGTREE [a-z]*_error' "$FERRY_WORK/runs/ferryd/serial.log" || true)" 0
check vm_suite "$(tail -n 1 "$FERRY_WORK/bigtree.log" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')" 0
grep -h '^script: BIGTREE seconds' "$FERRY_WORK/runs/ferryd/serial.log" | sed 's/.*BIGTREE /bigtree: /' || true
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
