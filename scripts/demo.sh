#!/usr/bin/env bash
# ferry's main job on a built-in default: build ferryd, serve a directory (a demo directory
# unless one is given) to a real Linux guest booted under QEMU, and print what the guest sees,
# what it wrote back, and a short benchmark line.
#
#   scripts/demo.sh [DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
FERRY_WORK=${FERRY_WORK:-$REPO/.work}

dir=${1:-}
if [[ -z $dir ]]; then
	dir=$FERRY_WORK/demo
	rm -rf "$dir"
	mkdir -p "$dir/src" "$dir/docs"
	echo "Hello from the host: this file lives in $dir." >"$dir/hello.txt"
	for i in $(seq 1 20); do printf 'int f%d(void) { return %d; }\n' "$i" "$i" >"$dir/src/f$i.c"; done
	cp README.md "$dir/docs/"
fi
[[ -d $dir ]] || { echo "$dir is not a directory" >&2; exit 2; }

scripts/prepare-guest.sh >/dev/null
cargo build --release --locked -q
echo "serving $dir to a guest through $REPO/target/release/ferryd"
rc=0
scripts/vm-test.sh --daemon ferryd --suites demo --shared-dir "$dir" >"$FERRY_WORK/demo.log" 2>&1 || rc=$?
grep -E '^(accelerator|daemon exit):' "$FERRY_WORK/demo.log"
sed -n -e 's/\r$//' -e '/FERRY-/d' -e 's/^.*demo: //p' "$FERRY_WORK/runs/ferryd/serial.log"
echo "on the host, the guest wrote: $(cat "$dir/from-guest.txt" 2>/dev/null || echo '<nothing>')"
tail -n 1 "$FERRY_WORK/demo.log"
exit "$rc"
