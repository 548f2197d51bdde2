#!/usr/bin/env bash
# Prints the path of a qemu-system-x86_64 that has the vhost-user shared-memory window (the
# DAX cache window of QEMU 11.1 and later: its vhost-user test device), or exits 1 saying why
# none was taken. Looks at, in order: $FERRY_QEMU; the builds of scripts/build-qemu.sh in
# $FERRY_QEMU_CACHE (default ~/.cache/ferry/qemu), newest first; qemu-system-x86_64 on PATH.
set -euo pipefail

CACHE=${FERRY_QEMU_CACHE:-${HOME:-/root}/.cache/ferry/qemu}

# Whether QEMU $1 has the test device and speaks the shared-memory messages (the device alone
# predates the window: QEMU 10.0 has vhost-user-device without it).
has_window() {
	[[ -x $1 ]] || return 1
	"$1" -device help 2>/dev/null | grep -q '"vhost-user-test-device-pci"' || return 1
	grep -aq 'SHMEM_MAP\|virtio-shmem' "$1"
}

candidates=()
[[ -n ${FERRY_QEMU:-} ]] && candidates+=("$FERRY_QEMU")
if [[ -d $CACHE ]]; then
	while IFS= read -r q; do
		candidates+=("$q")
	done < <(ls -1t "$CACHE"/*/bin/qemu-system-x86_64 2>/dev/null)
fi
if q=$(command -v qemu-system-x86_64); then
	candidates+=("$q")
fi
for q in "${candidates[@]}"; do
	if has_window "$q"; then
		echo "$q"
		exit 0
	fi
	echo "find-dax-qemu: $q has no shared-memory window" >&2
done
exit 1
