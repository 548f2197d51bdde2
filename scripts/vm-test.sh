#!/usr/bin/env bash
# Boot a real Linux guest on a virtio-fs share served by ferryd and/or
# virtiofsd, run test suites inside it, and compare.
#
#   scripts/vm-test.sh [--daemon ferryd|virtiofsd|both|none|ferryd-9p|ferryd-9p-virtio|qemu-9p|9p]
#                      [--suites smoke,pjdfstest,fsx,fio] [--9p-opts OPTS]
#                      [--fsx-ops N] [--fsx-seed N] [--pjd PATTERNS] [--ferryd PATH]
#                      [--cache MODE] [--timeout MINUTES] [--script FILE]
#                      [--shared-dir DIR] [--disk IMAGE] [--append WORDS]
#                      [--queue-size N] [--agent] [--qemu PATH]
#                      [--dax always|inode|never] [--dax-window SIZE]
#                      [-- extra daemon args]
#
# Defaults: --daemon both --suites smoke,pjdfstest,fsx --fsx-ops 100000 (about
# 9-10 min under TCG; fsx's cost grows faster than linearly) --timeout 25 (per
# VM). --pjd chmod,rename::eexist runs only the pjdfstest tests whose names
# contain one of the patterns. --cache and the extra args go to either daemon.
# --script FILE copies FILE into the share and adds the "script" suite, which
# runs it with sh -x in the guest (output prefixed "script: " in serial.log).
# --shared-dir DIR serves DIR (kept as it is) instead of a fresh directory; the
# "demo" suite shows what the guest sees there (scripts/demo.sh).
# --daemon none --disk IMAGE runs no daemon: IMAGE (raw, ext4) is attached as a
# virtio-blk disk (cache=none) and the guest mounts it on /mnt instead of
# virtio-fs (the perf suite's "volume" baseline). --append adds words to the
# guest kernel command line (e.g. ferry.perf.files=200). The "perf" suite is
# scripts/guest/perf.sh; scripts/perf-matrix.sh runs it across daemons.
# --queue-size N sets the vhost-user-fs device's virtqueue size (QEMU's default
# is 128). Linux's virtio-fs splits requests to fit the ring: at most N - 4 pages
# of data each (124 pages, 496 KiB, at 128; its full 256 pages, 1 MiB, at 512 and up).
# 9P2000.L instead of virtio-fs: --daemon ferryd-9p runs ferryd --protocol 9p on a
# loopback TCP port the guest reaches through QEMU's user network (virtio-net; the
# guest mounts 10.0.2.2 with trans=tcp); --daemon qemu-9p is QEMU's built-in
# virtio-9p (-fsdev local,security_model=none, trans=virtio); --daemon
# ferryd-9p-virtio is ferryd --protocol 9p-virtio, a vhost-user virtio-9p device
# (QEMU's generic vhost-user device, virtio-id=9, trans=virtio: QEMU 11.1's
# vhost-user-test-device-pci, so --qemu); --daemon 9p runs qemu-9p and ferryd-9p,
# and ferryd-9p-virtio too when the QEMU has that device; ferryd's pjdfstest and
# smoke failures that QEMU's 9p also has are expected. Both mount with version=9p2000.L and --9p-opts (default
# cache=loose,msize=512000).
# --qemu PATH runs that qemu-system-x86_64 (default: $FERRY_QEMU, else the one on
# PATH). --dax MODE mounts ferryd's share with -o dax=MODE: ferryd gets --tag ferry
# and --dax-window SIZE (default 1G), and the device is QEMU's vhost-user test
# device (virtio-id 26, virtio-fs), which carries the shared-memory window of
# QEMU 11.1 and later (scripts/build-qemu.sh builds one).
# --agent runs the guest agent (ferry-guest watch, built static and copied into
# <share>/ferry-bin) before the suites; the "coherence" suite implies it and
# times how soon host changes (made by coherence_host below) reach the guest's
# caches and inotify (scripts/guest/coherence.c).
#
# Run scripts/prepare-guest.sh first. Artifacts of the latest run of each
# daemon are kept in $FERRY_WORK/runs/<daemon>/ (serial.log, daemon.log, shared/;
# the guest's full suite logs are in shared/ferry-logs/).
# Last line: "N passed, N failed", one check per (daemon, suite), plus the
# daemon's exit status, a clean guest kernel log and the mmap marker.
# Exit status 0 iff nothing failed.
#
# pjdfstest passes for a daemon when each failing test matches a line of
# scripts/pjdfstest-known-failures.txt ("name-or-glob # reason") or, for
# ferryd under --daemon both, also fails on virtiofsd.
set -euo pipefail
export LC_ALL=C # one collation for sort and comm
# The whole script is one brace group, read before it runs: editing this file while a run
# (or a perf matrix of runs) goes on cannot change what it does.
{

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FERRY_WORK=${FERRY_WORK:-$REPO/.work}
KNOWN_FAILURES=$REPO/scripts/pjdfstest-known-failures.txt
MARKER=mmap-marker-ok

daemon_sel=both
suites=smoke,pjdfstest,fsx
fsx_ops=100000
fsx_seed=1
pjd_patterns=
ferryd_bin=$REPO/target/release/ferryd
virtiofsd_bin=$FERRY_WORK/tools/bin/virtiofsd
cache=
timeout_min=25
extra_args=()
guest_script=
shared_dir=
disk=
append_extra=
queue_size=
agent=
p9_opts=cache=loose,msize=512000
qemu_bin=${FERRY_QEMU:-qemu-system-x86_64}
dax=
dax_window=1G

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--daemon) daemon_sel=$2; shift 2 ;;
	--suites) suites=$2; shift 2 ;;
	--fsx-ops) fsx_ops=$2; shift 2 ;;
	--fsx-seed) fsx_seed=$2; shift 2 ;;
	--pjd) pjd_patterns=$2; shift 2 ;;
	--ferryd) ferryd_bin=$2; shift 2 ;;
	--cache) cache=$2; shift 2 ;;
	--timeout) timeout_min=$2; shift 2 ;;
	--script) guest_script=$2; shift 2 ;;
	--shared-dir) shared_dir=$(cd "$2" && pwd); shift 2 ;;
	--disk) disk=$(realpath "$2"); shift 2 ;;
	--append) append_extra=$2; shift 2 ;;
	--queue-size) queue_size=$2; shift 2 ;;
	--agent) agent=1; shift ;;
	--9p-opts) p9_opts=$2; shift 2 ;;
	--qemu) qemu_bin=$2; shift 2 ;;
	--dax) dax=$2; shift 2 ;;
	--dax-window) dax_window=$2; shift 2 ;;
	-h | --help) usage 0 ;;
	--) shift; extra_args=("$@"); break ;;
	*) echo "unknown argument: $1" >&2; usage 2 ;;
	esac
done

case $daemon_sel in
ferryd | virtiofsd | ferryd-9p | ferryd-9p-virtio | qemu-9p) daemons=("$daemon_sel") ;;
both) daemons=(virtiofsd ferryd) ;;
9p)
	daemons=(qemu-9p ferryd-9p)
	if "$qemu_bin" -device help 2>/dev/null | grep -q '"vhost-user-test-device-pci"'; then
		daemons+=(ferryd-9p-virtio)
	fi
	;;
none) daemons=(none) ;;
*) echo "--daemon must be ferryd, virtiofsd, both, none, ferryd-9p, ferryd-9p-virtio, qemu-9p or 9p" >&2; exit 2 ;;
esac
if [[ $daemon_sel == none && -z $disk || $daemon_sel != none && -n $disk ]]; then
	echo "--daemon none and --disk IMAGE go together" >&2
	exit 2
fi
case $dax in
'') ;;
always | inode | never)
	if [[ $daemon_sel != ferryd ]]; then
		echo "--dax needs --daemon ferryd" >&2
		exit 2
	fi
	if ! "$qemu_bin" -device help 2>/dev/null | grep -q '"vhost-user-test-device-pci"'; then
		echo "--dax: $qemu_bin has no vhost-user-test-device-pci (QEMU 11.1 or later:" \
			"scripts/build-qemu.sh, then --qemu PATH)" >&2
		exit 2
	fi
	;;
*) echo "--dax must be always, inode or never" >&2; exit 2 ;;
esac
if [[ -n $guest_script && ,$suites, != *,script,* ]]; then
	suites+=,script
fi
IFS=, read -r -a suite_list <<<"$suites"
for s in "${suite_list[@]}"; do
	case $s in
	smoke | pjdfstest | fsx | fio | script | demo | visibility | perf) ;;
	dax | daxline) [[ -n $dax ]] || { echo "the $s suite needs --dax MODE" >&2; exit 2; } ;;
	coherence | burst) agent=1 ;;
	*) echo "unknown suite: $s" >&2; exit 2 ;;
	esac
done

KERNEL=$FERRY_WORK/kernel/vmlinuz
BASE_INITRD=$FERRY_WORK/guest/base.cpio.gz
FIO_INITRD=$FERRY_WORK/guest/fio.cpio.gz
PERF_INITRD=$FERRY_WORK/guest/perf.cpio.gz
for f in "$KERNEL" "$BASE_INITRD" "$FIO_INITRD"; do
	[[ -f $f ]] || { echo "missing $f: run scripts/prepare-guest.sh" >&2; exit 2; }
done
if [[ ,$suites, == *,perf,* && ! -f $PERF_INITRD ]]; then
	echo "missing $PERF_INITRD: run scripts/prepare-guest.sh" >&2
	exit 2
fi

# shellcheck source=scripts/lib/vm-common.sh
. "$REPO/scripts/lib/vm-common.sh"
vm_detect_accel
vm_take_lock

echo "accelerator: $accel_name"

# Children (daemon, QEMU) not yet reaped are killed when this script exits.
declare -A live_pids=()
cleanup() {
	local p
	for p in "${!live_pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
}
reap() { # pid: wait for it, return its status, forget it
	local rc=0
	wait "$1" || rc=$?
	unset "live_pids[$1]"
	return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

alive() { # pid: running and not a zombie
	local state
	state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ $state != Z* ]]
}

# Results: RES["daemon suite"]="passed failed skipped" or "" when absent.
declare -A RES=() VERDICT=() NOTE=()
checks_passed=0
checks_failed=0

record() { # daemon check ok|fail note
	VERDICT["$1 $2"]=$3
	NOTE["$1 $2"]=$4
	if [[ $3 == ok ]]; then
		checks_passed=$((checks_passed + 1))
	else
		checks_failed=$((checks_failed + 1))
	fi
}

# The host's side of the "visibility" suite: once the guest has read the
# files and says ready, change one in place, create one and remove one, as an
# editor or a build on the host would. The guest times how long it takes to
# see each change.
host_changes() { # dir
	local d=$1 i
	for ((i = 0; i < 6000; i++)); do
		[[ -e $d/ready ]] && break
		sleep 0.05
	done
	[[ -e $d/ready ]] || return 0
	echo v2 >"$d/changed"
	: >"$d/created"
	rm -f "$d/removed"
}

# The host's side of the "coherence" suite: each request file the guest
# writes in ctl/ ("KIND I") asks for one change in w/; done when ctl/done appears.
coherence_host() { # dir
	local d=$1 f kind i end=$((SECONDS + 1800))
	while ((SECONDS < end)) && [[ ! -e $d/ctl/done ]]; do
		for f in "$d"/ctl/req.*; do
			[[ -e $f ]] || continue
			read -r kind i <"$f" || continue
			case $kind in
			create) echo x >"$d/w/new.$i" ;;
			modify) echo v1-longer >"$d/w/mod.$i" ;;
			chmod) chmod 600 "$d/w/chm.$i" ;;
			delete) rm -f "$d/w/del.$i" ;;
			rename) mv "$d/w/ren.$i" "$d/w/ren.$i.new" ;;
			mkdir) mkdir "$d/w/dir.$i" ;;
			rmdir) rmdir "$d/w/rdir.$i" ;;
			esac
			rm -f "$f"
		done
		sleep 0.005
	done
}

# The host side of the dax suite (scripts/guest/dax.c): "h2g OFFSET TEXT" writes
# TEXT into DIR/h2g at OFFSET; "g2h OFFSET TEXT" waits up to 5 s for DIR/g2h to
# hold TEXT at OFFSET and answers DIR/ctl/ok.SEQ or fail.SEQ; "trunc SIZE -"
# truncates DIR/trunc to SIZE and answers ok.SEQ.
dax_host() { # dir
	local d=$1 f kind off text n got t end=$((SECONDS + 1800))
	while ((SECONDS < end)) && [[ ! -e $d/ctl/done ]]; do
		for f in "$d"/ctl/req.*; do
			[[ -e $f ]] || continue
			read -r kind off text <"$f" || continue
			n=${f##*.}
			case $kind in
			h2g) printf '%s' "$text" | dd of="$d/h2g" bs=1 seek="$off" conv=notrunc status=none ;;
			g2h)
				for ((t = 0; t < 500; t++)); do
					got=$(dd if="$d/g2h" bs=1 skip="$off" count=${#text} status=none 2>/dev/null) || true
					[[ $got == "$text" ]] && break
					sleep 0.01
				done
				if [[ $got == "$text" ]]; then : >"$d/ctl/ok.$n"; else : >"$d/ctl/fail.$n"; fi
				;;
			trunc) truncate -s "$off" "$d/trunc" && : >"$d/ctl/ok.$n" ;;
			esac
			rm -f "$f"
		done
		sleep 0.005
	done
}

# The host's side of the "burst" suite: a git tree made before boot
# (scripts/lib/burst-tree.sh); each ctl/go.N the guest writes asks for a branch
# switch (10,000 paths change), after which ctl/manifest.N holds the tree's
# files and their md5 sums as the host has them.
burst_host() { # dir
	local d=$1 n end=$((SECONDS + 1800))
	for ((n = 1; n <= 2 && SECONDS < end; )); do
		if [[ -e $d/ctl/go.$n ]]; then
			local br=b
			((n % 2 == 0)) && br=a
			git -C "$d/tree" checkout -q "$br"
			(cd "$d/tree" && find . -path ./.git -prune -o -type f -print | sort |
				xargs md5sum) >"$d/ctl/manifest.$n.tmp"
			mv "$d/ctl/manifest.$n.tmp" "$d/ctl/manifest.$n"
			n=$((n + 1))
		fi
		sleep 0.05
	done
}

# The guest agent, static, and the coherence tool, into <share>/ferry-bin.
agent_bin=
build_agent() { # share
	local bin=$1/ferry-bin
	mkdir -p "$bin"
	if [[ -z $agent_bin ]]; then
		(cd "$REPO" && RUSTFLAGS="-C target-feature=+crt-static" \
			cargo build -q --release -p ferry-guest --target x86_64-unknown-linux-gnu)
		agent_bin=$REPO/target/x86_64-unknown-linux-gnu/release/ferry-guest
	fi
	cp "$agent_bin" "$bin/ferry-guest"
	gcc -O2 -Wall -Wextra -static -o "$bin/coherence" "$REPO/scripts/guest/coherence.c"
}

# The daemon's peak memory and CPU time so far (the serving process: under the
# namespace sandbox, the child of the one started), kept in DAEMON_HWM (kB) and
# DAEMON_CPU (clock ticks).
DAEMON_HWM= DAEMON_CPU=
daemon_sample() { # pid
	[[ -n $1 ]] || return 0
	local p=$1 kids
	kids=$(cat "/proc/$1/task/$1/children" 2>/dev/null) || true
	[[ -n $kids ]] && p=${kids%% *}
	DAEMON_HWM=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || true
	DAEMON_CPU=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || true
}

run_vm() { # daemon
	local daemon=$1 bin
	case $daemon in
	ferryd | ferryd-9p | ferryd-9p-virtio) bin=$ferryd_bin ;;
	virtiofsd) bin=$virtiofsd_bin ;;
	none) bin="(no daemon: disk $disk)" ;;
	qemu-9p) bin="(no daemon: QEMU's virtio-9p)" ;;
	esac
	local run=$FERRY_WORK/runs/$daemon
	rm -rf "$run"
	mkdir -p "$run/shared"
	local share=${shared_dir:-$run/shared}
	[[ -n $guest_script ]] && cp "$guest_script" "$share/ferry-script.sh"
	[[ -n $agent && $daemon != none ]] && build_agent "$share"
	local sock=$run/vhost.sock serial=$run/serial.log dlog=$run/daemon.log
	echo
	echo "=== $daemon: $bin"
	RUN_STATUS=
	if [[ $daemon != none && $daemon != qemu-9p && ! -x $bin ]]; then
		echo "$daemon: binary $bin not found" >&2
		RUN_STATUS="daemon binary not found"
		return
	fi

	local dpid=
	local dargs=(--socket-path="$sock" --shared-dir="$share")
	local port=
	if [[ $daemon == ferryd-9p ]]; then
		port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		dargs=(--protocol 9p --listen "tcp:127.0.0.1:$port" --shared-dir="$share")
	elif [[ $daemon == ferryd-9p-virtio ]]; then
		dargs=(--protocol 9p-virtio --socket-path="$sock" --tag ferry --shared-dir="$share")
	fi
	[[ -n $cache ]] && dargs+=(--cache="$cache")
	[[ -n $dax ]] && dargs+=(--tag=ferry --dax-window="$dax_window")
	dargs+=("${extra_args[@]}")
	if [[ $daemon != none && $daemon != qemu-9p ]]; then
		echo "daemon: $bin ${dargs[*]}"
		"$bin" "${dargs[@]}" >"$dlog" 2>&1 &
		dpid=$!
		live_pids[$dpid]=1
	fi

	local t0=$SECONDS
	# Ready: the vhost-user socket exists, or ferryd-9p says it serves.
	ready() { if [[ -n $port ]]; then grep -q 'over 9P2000.L' "$dlog"; else [[ -S $sock ]]; fi; }
	while [[ -n $dpid ]] && ! ready; do
		if ! alive "$dpid"; then
			echo "$daemon died before creating its socket; log:" >&2
			tail -n 20 "$dlog" >&2
			RUN_STATUS="daemon died at start"
			reap "$dpid" || true
			return
		fi
		if ((SECONDS - t0 >= 30)); then
			RUN_STATUS="daemon made no socket in 30s"
			kill "$dpid" 2>/dev/null || true
			reap "$dpid" || true
			return
		fi
		sleep 0.1
	done

	local initrd=$BASE_INITRD
	if [[ ,$suites, == *,perf,* ]]; then
		initrd=$run/initrd.cpio.gz
		cat "$BASE_INITRD" "$FIO_INITRD" "$PERF_INITRD" >"$initrd"
	elif [[ ,$suites, == *,fio,* ]]; then
		initrd=$run/initrd.cpio.gz
		cat "$BASE_INITRD" "$FIO_INITRD" >"$initrd"
	fi
	local append="console=ttyS0 quiet panic=-1 ferry.tag=ferry ferry.suites=$suites"
	append+=" ferry.fsxops=$fsx_ops ferry.fsxseed=$fsx_seed"
	[[ -n $pjd_patterns ]] && append+=" ferry.pjd=$pjd_patterns"
	[[ -n $disk ]] && append+=" ferry.disk=/dev/vda"
	[[ -n $append_extra ]] && append+=" $append_extra"
	[[ -n $agent && $daemon != none ]] && append+=" ferry.agent=1"
	[[ -n $dax ]] && append+=" ferry.fsopts=dax=$dax"
	case $daemon in
	ferryd-9p) append+=" ferry.9p=tcp:$port ferry.9popts=$p9_opts" ;;
	qemu-9p | ferryd-9p-virtio) append+=" ferry.9p=virtio ferry.9popts=$p9_opts" ;;
	esac

	local dev=(-chardev "socket,id=char0,path=$sock"
		-device "vhost-user-fs-pci,chardev=char0,tag=ferry${queue_size:+,queue-size=$queue_size}")
	# The test device: virtio-fs (id 26) with the daemon's config space (tag, queues:
	# 40 bytes) and its shared-memory window (BAR 4, shmid 0: Linux's DAX cache).
	[[ -n $dax ]] && dev=(-chardev "socket,id=char0,path=$sock"
		-device "vhost-user-test-device-pci,chardev=char0,virtio-id=26,num_vqs=2,config_size=40")
	case $daemon in
	none) dev=(-drive "file=$disk,if=virtio,format=raw,cache=none,aio=threads") ;;
	ferryd-9p) dev=(-netdev user,id=net0 -device virtio-net-pci,netdev=net0) ;;
	qemu-9p)
		dev=(-fsdev "local,id=fs0,path=$share,security_model=none"
			-device virtio-9p-pci,fsdev=fs0,mount_tag=ferry)
		;;
	ferryd-9p-virtio)
		dev=(-chardev "socket,id=char0,path=$sock"
			-device vhost-user-test-device-pci,chardev=char0,virtio-id=9,num_vqs=1,config_size=64,vq_size=1024)
		;;
	esac
	local qemu=("$qemu_bin" -M q35 "${accel[@]}" -m 1G -smp 2
		-object "memory-backend-memfd,id=mem,size=1G,share=on" -numa "node,memdev=mem"
		"${dev[@]}"
		-kernel "$KERNEL" -initrd "$initrd" -append "$append"
		-nographic -no-reboot -nic none)
	echo "qemu: ${qemu[*]}" >"$run/qemu.cmd"
	local qstart=$SECONDS
	if [[ ,$suites, == *,visibility,* ]]; then
		host_changes "$share/visibility" &
		live_pids[$!]=1
	fi
	if [[ ,$suites, == *,burst,* ]]; then
		rm -rf "$share/burst"
		mkdir -p "$share/burst/ctl"
		"$REPO/scripts/lib/burst-tree.sh" "$share/burst/tree"
		burst_host "$share/burst" &
		live_pids[$!]=1
	fi
	if [[ ,$suites, == *,coherence,* ]]; then
		rm -rf "$share/coherence"
		coherence_host "$share/coherence" &
		live_pids[$!]=1
	fi
	if [[ ,$suites, == *,dax,* || ,$suites, == *,daxline,* ]]; then
		mkdir -p "$share/ferry-bin"
		gcc -O2 -Wall -Wextra -static -o "$share/ferry-bin/dax" "$REPO/scripts/guest/dax.c"
	fi
	if [[ ,$suites, == *,dax,* ]]; then
		rm -rf "$share/dax"
		dax_host "$share/dax" &
		live_pids[$!]=1
	fi
	"${qemu[@]}" </dev/null >"$serial" 2>&1 &
	local qpid=$!
	live_pids[$qpid]=1
	# Live view of the FERRY-* lines (and kernel panics).
	tail -n +1 -F --pid="$qpid" "$serial" 2>/dev/null |
		sed -u -n -e 's/\r$//' -e 's/^.*\(FERRY-\)/\1/p' -e '/Kernel panic/p' &
	local tpid=$!
	# A daemon run with --stats prints its table on SIGUSR1: each FERRY-STATS-MARK line
	# the guest writes (scripts/guest/perf.sh, counting runs) asks for one, so the guest
	# can take the daemon's own time per workload (scripts/perf-counts.py pairs the k-th
	# mark in serial.log with the k-th table in daemon.log).
	local spid=
	if [[ -n $dpid && " ${extra_args[*]} " == *" --stats "* ]]; then
		tail -n +1 -F --pid="$qpid" "$serial" 2>/dev/null |
			while IFS= read -r line; do
				[[ $line == *FERRY-STATS-MARK* ]] && kill -USR1 "$dpid" 2>/dev/null
			done &
		spid=$!
	fi

	local deadline=$((SECONDS + timeout_min * 60))
	while alive "$qpid"; do
		if [[ -n $dpid ]] && ! alive "$dpid"; then
			RUN_STATUS="daemon died while the guest ran"
			echo "$daemon: $RUN_STATUS; stopping QEMU" >&2
			kill "$qpid" 2>/dev/null || true
			break
		fi
		if ((SECONDS >= deadline)); then
			RUN_STATUS="timeout after $timeout_min min"
			echo "$daemon: $RUN_STATUS; stopping QEMU" >&2
			kill "$qpid" 2>/dev/null || true
			break
		fi
		daemon_sample "$dpid"
		sleep 1
	done
	local qrc=0
	reap "$qpid" || qrc=$?
	wait "$tpid" 2>/dev/null || true
	[[ -n $spid ]] && { wait "$spid" 2>/dev/null || true; }
	echo "qemu exit: $qrc after $((SECONDS - qstart))s"
	if [[ -n $DAEMON_HWM ]]; then
		echo "daemon: peak RSS $((DAEMON_HWM / 1024)) MiB, CPU $((DAEMON_CPU / 100)).$(printf %02d $((DAEMON_CPU % 100))) s (last sampled while the guest ran)"
	fi
	DAEMON_HWM= DAEMON_CPU=

	if [[ -z $dpid ]]; then
		DAEMON_EXIT="none"
		return
	fi
	# The daemon should notice the disconnect and exit by itself; a 9P server keeps
	# listening for the next client, and is stopped (SIGTERM, which it answers with exit 0).
	[[ $daemon == ferryd-9p ]] && kill -TERM "$dpid" 2>/dev/null
	local i drc
	for ((i = 0; i < 100; i++)); do
		alive "$dpid" || break
		sleep 0.1
	done
	if alive "$dpid"; then
		echo "$daemon still running 10s after QEMU exited; killing it" >&2
		kill "$dpid" 2>/dev/null || true
		DAEMON_EXIT="still running (killed)"
		reap "$dpid" || true
	else
		drc=0
		reap "$dpid" || drc=$?
		DAEMON_EXIT=$drc
	fi
	echo "daemon exit: $DAEMON_EXIT"
	if [[ $DAEMON_EXIT != 0 ]]; then
		tail -n 20 "$dlog" | sed "s/^/$daemon: /"
	fi
}

# Lines of the serial log without the CRs and with any kernel noise in front
# of the FERRY- prefix removed.
ferry_lines() { sed -n -e 's/\r$//' -e 's/^.*\(FERRY-\)/\1/p' "$1"; }

collect() { # daemon
	local daemon=$1 run=$FERRY_WORK/runs/$1 s line
	local serial=$run/serial.log
	: >"$run/pjdfail.txt"
	: >"$run/smokefail.txt"
	if [[ -f $serial ]]; then
		ferry_lines "$serial" | sed -n 's/^FERRY-PJDFAIL //p' | sort -u >"$run/pjdfail.txt"
		ferry_lines "$serial" | sed -n 's/^FERRY-FAIL smoke: \([^:]*\):.*/\1/p' | sort -u \
			>"$run/smokefail.txt"
	fi
	for s in "${suite_list[@]}"; do
		line=
		if [[ -f $serial ]]; then
			line=$(ferry_lines "$serial" | grep "^FERRY-RESULT $s: " | tail -n 1 || true)
		fi
		if [[ -z $line ]]; then
			RES["$daemon $s"]=
			continue
		fi
		local p f k
		p=$(sed -n 's/.* \([0-9]*\) passed.*/\1/p' <<<"$line")
		f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line")
		k=$(sed -n 's/.* \([0-9]*\) skipped.*/\1/p' <<<"$line")
		RES["$daemon $s"]="${p:-0} ${f:-0} ${k:-0}"
	done
}

# Patterns (shell globs) of scripts/pjdfstest-known-failures.txt.
known_failures() {
	[[ -f $KNOWN_FAILURES ]] || return 0
	sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e 's/^[[:space:]]*//' -e '/^$/d' "$KNOWN_FAILURES"
}

# Failures of daemon $1 that are neither known nor (ferryd under --daemon
# both) also failures of virtiofsd; one name per line.
unexpected_pjd_failures() {
	local daemon=$1 name pat ok
	local -a pats=()
	mapfile -t pats < <(known_failures)
	local base=$FERRY_WORK/runs/virtiofsd/pjdfail.txt
	while read -r name; do
		ok=0
		for pat in "${pats[@]}"; do
			# shellcheck disable=SC2053 # pat is a glob on purpose
			[[ $name == $pat ]] && ok=1 && break
		done
		if [[ $daemon == ferryd-9p* ]]; then
			base=$FERRY_WORK/runs/qemu-9p/pjdfail.txt
		fi
		if [[ $ok == 0 && ($daemon == ferryd && $daemon_sel == both ||
			$daemon == ferryd-9p* && $daemon_sel == 9p) && -f $base ]] &&
			grep -qxF -- "$name" "$base"; then
			ok=1
		fi
		[[ $ok == 1 ]] || echo "$name"
	done <"$FERRY_WORK/runs/$daemon/pjdfail.txt"
}

judge() { # daemon
	local daemon=$1 run=$FERRY_WORK/runs/$1 s
	for s in "${suite_list[@]}"; do
		local r=${RES["$daemon $s"]:-}
		if [[ -z $r ]]; then
			record "$daemon" "$s" fail "no result${RUN_STATUS:+ ($RUN_STATUS)}"
			continue
		fi
		local p f k
		read -r p f k <<<"$r"
		if [[ $daemon == qemu-9p ]]; then
			# QEMU's 9p is the yardstick, not under test: its results are the baseline.
			record "$daemon" "$s" ok "baseline: $p passed, $f failed"
			continue
		fi
		local qsmoke=$FERRY_WORK/runs/qemu-9p/smokefail.txt
		if [[ $s == smoke && $f -gt 0 && $daemon == ferryd-9p* && $daemon_sel == 9p &&
			-f $qsmoke && -z $(comm -23 "$run/smokefail.txt" "$qsmoke") ]]; then
			record "$daemon" "$s" ok "all $f failures also QEMU's 9p's"
			continue
		fi
		if [[ $s == pjdfstest && $f -gt 0 ]]; then
			local unexpected listed
			unexpected=$(unexpected_pjd_failures "$daemon" | grep -c . || true)
			listed=$(grep -c . "$run/pjdfail.txt" || true)
			if [[ $unexpected -eq 0 && $listed -eq $f ]]; then
				record "$daemon" "$s" ok "all $f failures expected"
			else
				record "$daemon" "$s" fail "$unexpected unexpected failures"
			fi
		elif [[ $f -eq 0 && -n $p && $p -gt 0 ]]; then
			record "$daemon" "$s" ok ""
		else
			record "$daemon" "$s" fail ""
		fi
	done
	# A guest timeout is the suites' failure; the daemon still has to exit 0.
	if [[ $daemon == none || $daemon == qemu-9p ]]; then
		: # no daemon: the guest used its own disk, or QEMU served it
	elif [[ ${DAEMON_EXIT:-none} == 0 && ${RUN_STATUS:-} != *daemon* ]]; then
		record "$daemon" daemon-exit ok "exit 0"
	else
		record "$daemon" daemon-exit fail "exit ${DAEMON_EXIT:-none}${RUN_STATUS:+, $RUN_STATUS}"
	fi
	# The guest kernel must not have complained (a FUSE protocol violation
	# by the daemon usually shows up as a WARNING or an Oops).
	local oops
	oops=$(tr -d '\r' <"$run/serial.log" 2>/dev/null |
		grep -E -m 3 'Kernel panic|BUG:|Oops|WARNING:|Call Trace|general protection' || true)
	if [[ -z $oops ]]; then
		record "$daemon" guest-kernel ok ""
	else
		record "$daemon" guest-kernel fail "$(head -n 1 <<<"$oops")"
	fi
	if [[ ,$suites, == *,smoke,* ]]; then
		local got=
		local m=${shared_dir:-$run/shared}/smoke/mmap_marker
		[[ -f $m ]] && got=$(cat "$m")
		if [[ $got == "$MARKER" ]]; then
			record "$daemon" mmap-marker ok "host sees '$got'"
		else
			record "$daemon" mmap-marker fail "host sees '${got:-<missing>}'"
		fi
	fi
}

summary() { # daemon
	local daemon=$1 c
	echo
	echo "=== summary: $daemon"
	printf '%-12s %7s %7s %7s  %-6s %s\n' check passed failed skipped result note
	for c in "${suite_list[@]}" daemon-exit guest-kernel mmap-marker; do
		[[ -n ${VERDICT["$daemon $c"]:-} ]] || continue
		local p=- f=- k=-
		[[ -n ${RES["$daemon $c"]:-} ]] && read -r p f k <<<"${RES["$daemon $c"]}"
		printf '%-12s %7s %7s %7s  %-6s %s\n' "$c" "$p" "$f" "$k" \
			"${VERDICT["$daemon $c"]}" "${NOTE["$daemon $c"]}"
	done
	local times
	times=$(ferry_lines "$FERRY_WORK/runs/$daemon/serial.log" 2>/dev/null |
		sed -n 's/^FERRY-TIME \([^ ]*\) \([0-9.]*\)/\1 \2s/p' | paste -sd, - | sed 's/,/, /g')
	[[ -n $times ]] && echo "guest time per suite: $times"
	local fails=$FERRY_WORK/runs/$daemon/pjdfail.txt
	if [[ -s $fails ]]; then
		echo "pjdfstest failures ($daemon, $(wc -l <"$fails") in $fails):"
		head -n 20 "$fails" | sed 's/^/  /'
		[[ $(wc -l <"$fails") -le 20 ]] || echo "  ..."
	fi
	return 0
}

for d in "${daemons[@]}"; do
	RUN_STATUS=
	DAEMON_EXIT=
	run_vm "$d"
	collect "$d"
	judge "$d"
done

for d in "${daemons[@]}"; do
	summary "$d"
done

if [[ $daemon_sel == both && ,$suites, == *,pjdfstest,* && -f $FERRY_WORK/runs/ferryd/pjdfail.txt &&
	-f $FERRY_WORK/runs/virtiofsd/pjdfail.txt ]]; then
	only=$FERRY_WORK/runs/ferryd/pjdfail-not-virtiofsd.txt
	comm -23 "$FERRY_WORK/runs/ferryd/pjdfail.txt" "$FERRY_WORK/runs/virtiofsd/pjdfail.txt" >"$only"
	echo
	echo "=== pjdfstest failures in ferryd but not in virtiofsd: $(wc -l <"$only") ($only)"
	sed 's/^/  /' "$only"
fi

if [[ $daemon_sel == 9p && ,$suites, == *,pjdfstest,* && -f $FERRY_WORK/runs/ferryd-9p/pjdfail.txt &&
	-f $FERRY_WORK/runs/qemu-9p/pjdfail.txt ]]; then
	for pair in "ferryd-9p qemu-9p" "qemu-9p ferryd-9p" "ferryd-9p-virtio qemu-9p" "qemu-9p ferryd-9p-virtio"; do
		[[ -f $FERRY_WORK/runs/${pair% *}/pjdfail.txt && -f $FERRY_WORK/runs/${pair#* }/pjdfail.txt ]] || continue
		read -r a b <<<"$pair"
		only=$FERRY_WORK/runs/$a/pjdfail-not-$b.txt
		comm -23 "$FERRY_WORK/runs/$a/pjdfail.txt" "$FERRY_WORK/runs/$b/pjdfail.txt" >"$only"
		echo
		echo "=== pjdfstest failures in $a but not in $b: $(wc -l <"$only") ($only)"
		sed 's/^/  /' "$only"
	done
fi

echo
echo "$checks_passed passed, $checks_failed failed"
[[ $checks_failed -eq 0 ]]
exit
}
