#!/usr/bin/env bash
# The tests: the house rules (scripts/lint.sh: rustfmt, clippy -D warnings, rustdoc), cargo
# test, the perf report scripts' unit tests, the real-guest suite (smoke,
# pjdfstest, fsx) run against ferryd and upstream virtiofsd in one run, ferryd again past its fd
# limit (file handles with 76 fds; scripts/bigtree-test.sh in both modes), with the guest agent
# (the coherence suite, then the suite again with the agent attached), on the portable
# backend, the suite over 9P
# (ferryd --protocol 9p over TCP beside QEMU's built-in virtio-9p), then libvirt domains whose
# virtiofs binary is ferryd. Each part reports what passed and failed and stops the run
# if anything failed.
#
#   FSX_OPS=N     fsx operations in the guest (default 100000)
#   DAEMONS=both  ferryd, virtiofsd or both
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fsx_ops=${FSX_OPS:-100000}
daemons=${DAEMONS:-both}

scripts/prepare-guest.sh
scripts/lint.sh
cargo build --release --locked
cargo test --locked --workspace
# The perf matrix's report scripts (scripts/perf-*.py).
python3 -m unittest discover -s scripts/tests
scripts/vm-test.sh --daemon "$daemons" --suites smoke,pjdfstest,fsx,visibility --fsx-ops "$fsx_ops" -- --xattr
# Past the fd limit, with POSIX ACLs (smoke checks them): inodes found again by file handle
# with 76 fds for the guest, then a tree many times larger than the budget walked, stat'ed
# and copied in the guest, in both modes.
if [[ $daemons != virtiofsd ]]; then
	scripts/vm-test.sh --daemon ferryd --suites smoke,pjdfstest,fsx --fsx-ops "$fsx_ops" \
		--append ferry.acl=1 -- --xattr --inode-file-handles=mandatory --rlimit-nofile=1100 --posix-acl
	scripts/bigtree-test.sh
	scripts/bigtree-test.sh -- --inode-file-handles=mandatory
	# The guest agent: host changes seen by the guest's caches and inotify (coherence), and
	# the whole suite again with it attached (long timeouts, replayed events).
	scripts/vm-test.sh --daemon ferryd --suites coherence,burst,smoke,pjdfstest,fsx --fsx-ops 20000 \
		--agent --append ferry.burst.worst=12 -- --xattr --agent-timeout=10
fi
# The portable POSIX backend (--backend portable: only calls macOS and the BSDs have), the
# same suite; smoke skips RENAME_EXCHANGE and FALLOC_FL_KEEP_SIZE and fsx punches no holes
# (ferry.posix=1), and pjdfstest must fail only what the Linux backend fails.
if [[ $daemons != virtiofsd ]]; then
	scripts/vm-test.sh --daemon ferryd --suites smoke,pjdfstest,fsx --fsx-ops "$fsx_ops" \
		--append ferry.posix=1 -- --backend portable
fi
# 9P2000.L: QEMU's own virtio-9p first (the yardstick), then ferryd --protocol 9p over TCP
# through QEMU's user network, with the same mount options; ferryd-9p may fail only the
# pjdfstest and smoke tests QEMU's 9p fails too. Devices allowed, as QEMU allows them; fsx
# 20,000 operations (100,000 take 6 min on QEMU's 9p and 10 on ferryd's under TCG).
# With a QEMU that has the shared-memory window (below) the run takes that QEMU, whose generic
# vhost-user device also carries ferryd --protocol 9p-virtio, a third 9P run.
dax_qemu=$(scripts/find-dax-qemu.sh) || dax_qemu=
if [[ $daemons != virtiofsd ]]; then
	scripts/vm-test.sh --daemon 9p ${dax_qemu:+--qemu "$dax_qemu"} --suites smoke,pjdfstest,fsx \
		--fsx-ops 20000 -- --allow-devices
fi
# DAX in a real guest, when a QEMU with the vhost-user shared-memory window is here: named by
# FERRY_QEMU, built by scripts/build-qemu.sh (its cache), or the one on PATH if it has one.
# The dax suite (mapped stores both ways, small files, a host truncation under a mapping,
# window pressure in a 64 MiB window), then smoke, pjdfstest and fsx on a dax=always mount
# (1 GiB window), and the dax suite on dax=inode.
if [[ $daemons != virtiofsd ]]; then
	if [[ -n $dax_qemu ]]; then
		echo "DAX: $dax_qemu"
		scripts/vm-test.sh --daemon ferryd --qemu "$dax_qemu" --dax always --dax-window 64M \
			--suites dax
		scripts/vm-test.sh --daemon ferryd --qemu "$dax_qemu" --dax always \
			--suites smoke,pjdfstest,fsx --fsx-ops "$fsx_ops"
		scripts/vm-test.sh --daemon ferryd --qemu "$dax_qemu" --dax inode --suites dax,smoke
	else
		echo "DAX: SKIPPED, no QEMU with the vhost-user shared-memory window here (QEMU 11.1 or" \
			"later; scripts/build-qemu.sh builds one, see README \"DAX cache window\")"
	fi
fi
# libvirt spawns ferryd itself (--fd, --shared-dir, --cache always, --sandbox chroot).
scripts/libvirt-test.sh
