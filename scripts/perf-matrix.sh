#!/usr/bin/env bash
# The performance matrix: the same fio and metadata workloads (scripts/guest/perf.sh) in a
# real QEMU guest, one guest boot per config, against ferryd, upstream virtiofsd and the
# guest's own virtio-blk ext4 disk ("volume", the baseline every slowdown is measured
# against).
#
#   scripts/perf-matrix.sh [--configs LIST] [--rounds N] [--reps N] [--seq-mib N] [--rand-mib N]
#                          [--runtime S] [--files N] [--dirs N] [--file-size BYTES]
#                          [--big-files N] [--big-rounds N] [--work fio,meta] [--quick] [--out DIR]
#                          [--ferryd PATH] [--timeout MINUTES] [--no-chart] [--counts]
#                          [--share ext4|dir] [--queue-size N] [--warmup N] [--qemu PATH]
#
# --configs: comma-separated, each "volume" or DAEMON[:ARG[:ARG...]] with DAEMON ferryd
#   (target/release/ferryd, or --ferryd PATH) or virtiofsd ($FERRY_WORK/tools/bin), e.g.
#   ferryd,ferryd:--cache=always,virtiofsd:--cache=auto,virtiofsd:--cache=always,volume
#   (that list without ferryd:--cache=always is the default). Round 1 boots them in that order.
#   ferryd@PATH[:ARGS] runs the ferryd binary at PATH instead (copied first), so two builds
#   can be compared in one run: ferryd@/tmp/before,ferryd@/tmp/after,virtiofsd,volume.
#   ferryd+agent[:ARGS] is ferryd with the guest agent running (vm-test.sh --agent:
#   ferry-guest watch, so long timeouts while it reads).
#   ferryd+dax=MODE[:ARGS] is ferryd with a DAX window, mounted -o dax=MODE (always, inode
#   or never; vm-test.sh --dax: QEMU's vhost-user test device, which needs --qemu).
#   9P: ferryd-9p[=CACHE][:ARGS] is ferryd --protocol 9p over TCP (the guest's virtio-net
#   and QEMU's user network to the host's loopback), qemu-9p[=CACHE] QEMU's built-in
#   virtio-9p (security_model=none), ferryd-9p-virtio[=CACHE][:ARGS] ferryd --protocol
#   9p-virtio (a vhost-user virtio-9p device, QEMU 11.1's vhost-user-test-device-pci, so
#   --qemu); all mounted
#   version=9p2000.L,msize=512000 and cache=CACHE (loose when not given; mmap, none, ...), e.g.
#   ferryd-9p=loose,qemu-9p=loose,ferryd-9p=mmap,qemu-9p=mmap,volume
# --qemu PATH: every boot runs that qemu-system-x86_64 (default $FERRY_QEMU, else the one on
#   PATH); a QEMU with the shared-memory window (11.1, or scripts/build-qemu.sh) for DAX.
# --rounds N (default 3): boots per config, taken in turns: a round boots every config once,
#   round 1 in the order given, round 2 in reverse, round 3 rotated by one place, round 4 that
#   reversed, and so on, so that no config always boots first or right after the same one
#   (two configs go A, B / B, A / B, A / A, B); each boot runs every workload --reps times
#   (default 1). Figures are medians over rounds x reps.
# --warmup N (default 1; 0 with --counts or --quick): boots of the first config before round
#   1, with the same workloads, whose figures are thrown away. The first boot after a quiet
#   spell or after other work on this host was slow on every workload (2026-12-06: ferryd's
#   worst figure on all 11 rows came from its round-1 boot, the matrix's first), and round 1
#   always boots the first config first.
# Workloads (--work fio,meta):
#   fio: seqwrite and seqread (1 MiB, psync, --seq-mib; the read after drop_caches),
#        randread-qd1 (4 KiB psync, direct), randread-qd16 (4 KiB libaio qd16, direct),
#        randwrite-fsync (4 KiB psync, fsync after each write), each for --runtime seconds
#        on a --rand-mib file
#   meta: --files files of --file-size bytes in --dirs directories: create; a listing of
#        the names alone after drop_caches (readdir, no stat); find after drop_caches; tar
#        of the tree read through a pipe; lstat of every entry x5 (warm); rm -rf. Times from CLOCK_MONOTONIC in the guest (ferry-perf, perftool.c).
#   and, in the first --big-rounds rounds (default 1), the meta series on --big-files files
#   (0: skipped).
# Defaults scale with the accelerator:
#   TCG: --seq-mib 256 --rand-mib 64 --runtime 5 --files 2000 --dirs 20 --big-files 10000
#   KVM: --seq-mib 1024 --rand-mib 256 --runtime 10 --files 5000 --dirs 50 --big-files 50000
# --counts: also count the FUSE requests each workload sends, in the guest kernel (kprobes
#   on the FUSE request paths, scripts/guest/perf.sh), so the same way for every daemon:
#   counts.tsv, counts.md and counts.json (scripts/perf-counts.py). The probes cost guest
#   CPU, so a counting run's timings are not compared with others'; ferryd configs also get
#   --stats (the daemon's own per-opcode table, in logs/*.daemon.log), printed before and
#   after each workload too, so counts.* also give the daemon's own time per workload.
#   scripts/perf-bound.py TIMED COUNTS then shows how much of a timed run's workload time
#   that is, and the ratio any daemon could reach with no service time at all.
# --share ext4 (the default): every daemon boot serves a fresh ext4 file system made as the
#   volume's is (same image size and mkfs options, a sparse file beside it, loop-mounted on
#   the host), so the daemons and the volume keep their files on the same kind of file
#   system, each from a clean one (needs root and loop devices; falls back to dir with a
#   note). --share dir serves a directory under $FERRY_WORK/runs, on whatever file system
#   the host has there (an ext4 without a journal, for one, allocates inodes more slowly
#   after many deletions: create and rm then measure the host's allocator too).
# --queue-size N: the virtqueue size of every daemon's device (vm-test.sh --queue-size; the
#   default is QEMU's, 128, which caps Linux's requests at 496 KiB of data).
# --quick: --seq-mib 32 --rand-mib 16 --runtime 2 --files 200 --big-files 0 --rounds 1
#   --warmup 0 (a
#   check that everything runs; explicit options after it still apply).
#
# Output in --out DIR (default $FERRY_WORK/perf/<UTC time>; $FERRY_WORK/perf/latest links
# to the newest): table.txt (printed at the end), table.md, results.json (every figure,
# medians, min/max, slowdown vs the volume), chart.svg and chart.png (matplotlib: slowdown
# vs the volume per workload and config), raw.tsv, meta.json (command, machine, sizes) and
# logs/ (each boot's serial.log, daemon.log and vm-test.sh output), and the copy of ferryd
# that every ferryd config ran.
#
# Each boot is a scripts/vm-test.sh run (--suites perf), which watches the daemon and
# stops QEMU if it dies. The VM lock (/tmp/ferry-vm.lock) is held for the whole matrix.
# Run scripts/prepare-guest.sh first. Exit status 0 iff every config gave every figure.
set -euo pipefail
export LC_ALL=C
# The whole script is one brace group, read before it runs: editing this file while a
# matrix runs (it takes minutes) cannot change the run.
{

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FERRY_WORK=${FERRY_WORK:-$REPO/.work}
command_line="scripts/perf-matrix.sh${*:+ $*}"

configs=ferryd,virtiofsd:--cache=auto,virtiofsd:--cache=always,volume
reps=1
rounds=3
seq_mib= rand_mib= runtime= files= dirs= big_files=
big_rounds=1
file_size=1024
work=fio,meta
out=
ferryd_bin=$REPO/target/release/ferryd
timeout_min=60
chart=1
quick=0
counts=0
share=ext4
queue_size=
warmup=

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--configs) configs=$2; shift 2 ;;
	--reps) reps=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--seq-mib) seq_mib=$2; shift 2 ;;
	--rand-mib) rand_mib=$2; shift 2 ;;
	--runtime) runtime=$2; shift 2 ;;
	--files) files=$2; shift 2 ;;
	--dirs) dirs=$2; shift 2 ;;
	--file-size) file_size=$2; shift 2 ;;
	--big-files) big_files=$2; shift 2 ;;
	--big-rounds) big_rounds=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	--quick)
		quick=1
		: "${seq_mib:=32}" "${rand_mib:=16}" "${runtime:=2}" "${files:=200}" "${big_files:=0}"
		rounds=1 warmup=0
		shift
		;;
	--out) out=$2; shift 2 ;;
	--ferryd) ferryd_bin=$(realpath "$2"); shift 2 ;;
	--timeout) timeout_min=$2; shift 2 ;;
	--no-chart) chart=0; shift ;;
	--counts) counts=1; shift ;;
	--share) share=$2; shift 2 ;;
	--queue-size) queue_size=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--qemu) export FERRY_QEMU=$2; shift 2 ;;
	-h | --help) usage 0 ;;
	*) echo "unknown argument: $1" >&2; usage 2 ;;
	esac
done

# Counting runs' timings are not compared: no warm-up for them unless asked.
: "${warmup:=$((counts == 1 ? 0 : 1))}"

# shellcheck source=scripts/lib/vm-common.sh
. "$REPO/scripts/lib/vm-common.sh"
vm_detect_accel
if [[ $accel_name == kvm ]]; then
	: "${seq_mib:=1024}" "${rand_mib:=256}" "${runtime:=10}" "${files:=5000}" "${dirs:=50}"
	: "${big_files:=50000}"
else
	: "${seq_mib:=256}" "${rand_mib:=64}" "${runtime:=5}" "${files:=2000}" "${dirs:=20}"
	: "${big_files:=10000}"
fi
: "${dirs:=20}"
[[ $share == ext4 || $share == dir ]] || { echo "--share must be ext4 or dir" >&2; exit 2; }
for v in reps rounds seq_mib rand_mib runtime files dirs file_size big_files big_rounds timeout_min; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "--${v//_/-} must be a number" >&2; exit 2; }
done
((reps >= 1 && rounds >= 1 && dirs >= 1)) || {
	echo "--reps, --rounds and --dirs must be at least 1" >&2
	exit 2
}

KERNEL=$FERRY_WORK/kernel/vmlinuz
for f in "$KERNEL" "$FERRY_WORK/guest/perf.cpio.gz"; do
	[[ -f $f ]] || { echo "missing $f: run scripts/prepare-guest.sh" >&2; exit 2; }
done

# Parse the configs: label, daemon (ferryd, virtiofsd or none) and daemon args.
declare -a labels=() daemons=() dargs=() bins=() p9opts=()
IFS=, read -r -a cfg_list <<<"$configs"
for c in "${cfg_list[@]}"; do
	IFS=: read -r -a parts <<<"$c"
	case ${parts[0]} in
	volume) [[ ${#parts[@]} == 1 ]] || { echo "volume takes no arguments" >&2; exit 2; }
		daemons+=(none) ;;
	ferryd)
		[[ -x $ferryd_bin ]] || {
			echo "$ferryd_bin missing: cargo build --release -p ferryd" >&2
			exit 2
		}
		daemons+=(ferryd) ;;
	ferryd+agent | ferryd+dax=always | ferryd+dax=inode | ferryd+dax=never)
		[[ -x $ferryd_bin ]] || {
			echo "$ferryd_bin missing: cargo build --release -p ferryd" >&2
			exit 2
		}
		daemons+=(ferryd) ;;
	ferryd@*)
		alt=$(realpath "${parts[0]#ferryd@}")
		[[ -x $alt ]] || { echo "$alt: not an executable" >&2; exit 2; }
		daemons+=(ferryd) ;;
	virtiofsd)
		[[ -x $FERRY_WORK/tools/bin/virtiofsd ]] || {
			echo "virtiofsd missing: run scripts/prepare-guest.sh" >&2
			exit 2
		}
		daemons+=(virtiofsd) ;;
	ferryd-9p | ferryd-9p=*) daemons+=(ferryd-9p) ;;
	ferryd-9p-virtio | ferryd-9p-virtio=*) daemons+=(ferryd-9p-virtio) ;;
	qemu-9p | qemu-9p=*)
		[[ ${#parts[@]} == 1 ]] || { echo "qemu-9p takes no daemon arguments" >&2; exit 2; }
		daemons+=(qemu-9p) ;;
	*) echo "unknown config $c (volume, ferryd[:ARGS], ferryd+agent[:ARGS], ferryd+dax=MODE[:ARGS], virtiofsd[:ARGS], ferryd-9p[=CACHE][:ARGS], ferryd-9p-virtio[=CACHE][:ARGS], qemu-9p[=CACHE])" >&2; exit 2 ;;
	esac
	case ${parts[0]} in
	*-9p=* | *-9p-virtio=*) p9opts+=("cache=${parts[0]#*=},msize=512000") ;;
	*-9p | *-9p-virtio) p9opts+=("cache=loose,msize=512000") ;;
	*) p9opts+=("") ;;
	esac
	labels+=("${c//:/ }")
	dargs+=("$(printf '%s\n' "${parts[@]:1}")")
	case ${parts[0]} in
	ferryd@*) bins+=("$(realpath "${parts[0]#ferryd@}")") ;;
	*) bins+=("") ;;
	esac
done
case " ${labels[*]} " in
*" volume "*) ;;
*) echo "note: no volume config, so no slowdown figures" >&2 ;;
esac

if [[ -z $out ]]; then
	out=$FERRY_WORK/perf/$(date -u +%Y%m%d-%H%M%S)
fi
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
if [[ $out == "$FERRY_WORK"/perf/* ]]; then
	ln -sfn "$out" "$FERRY_WORK/perf/latest"
fi

vm_take_lock
export FERRY_VM_LOCK_HELD=1

# One ferryd binary for the whole matrix, even if it is rebuilt meanwhile.
ferryd_src=$ferryd_bin
ferryd_built=$(date -u -r "$ferryd_src" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)
if [[ -x $ferryd_src ]]; then
	cp "$ferryd_src" "$out/ferryd"
	ferryd_bin=$out/ferryd
fi
# ferryd@PATH configs get their own copies.
for i in "${!bins[@]}"; do
	if [[ -n ${bins[i]} ]]; then
		cp "${bins[i]}" "$out/ferryd-$i"
		bins[i]=$out/ferryd-$i
	fi
done

# Children (only mkfs here; vm-test.sh reaps its own) are not waited for on exit.
volume_img= share_img= share_mnt=
cleanup() {
	[[ -n $share_mnt ]] && umount "$share_mnt" 2>/dev/null
	[[ -n $volume_img ]] && rm -f "$volume_img"
	[[ -n $share_img ]] && rm -f "$share_img"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

append="ferry.perf.seq=$seq_mib ferry.perf.rnd=$rand_mib ferry.perf.rt=$runtime"
append+=" ferry.perf.files=$files ferry.perf.dirs=$dirs ferry.perf.fsize=$file_size"
append+=" ferry.perf.reps=$reps ferry.perf.work=$work ferry.perf.count=$counts"

json_str() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"; }

commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null) ]] ||
	commit+=" (with uncommitted changes)"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
guest_kernel=$(cat "$FERRY_WORK/kernel/package" 2>/dev/null || echo unknown)
qemu_version=$("${FERRY_QEMU:-qemu-system-x86_64}" --version | head -n 1 | sed 's/ (.*//')
vfs_version=$("$FERRY_WORK/tools/bin/virtiofsd" --version 2>/dev/null | head -n 1 || echo unknown)
volume_desc="raw image, ext4 (mkfs.ext4 defaults), -drive if=virtio,cache=none,aio=threads"
img_mib=$((seq_mib + rand_mib + 2048))

# A fresh ext4 image: sparse, with its inode tables and journal written now so that no lazy
# init runs during the measurements.
fresh_ext4() { # IMAGE LABEL
	rm -f "$1"
	truncate -s "${img_mib}M" "$1"
	mkfs.ext4 -q -F -L "$2" -E lazy_itable_init=0,lazy_journal_init=0 "$1"
}

# Can the daemons' shares be fresh ext4 file systems here?
if [[ $share == ext4 ]]; then
	share_img=$out/share.img share_mnt=$out/share
	mkdir -p "$share_mnt"
	if ! { fresh_ext4 "$share_img" ferry-share && mount -o loop "$share_img" "$share_mnt"; } \
		>"$out/share-check.log" 2>&1; then
		echo "note: cannot loop-mount an ext4 image here ($(tail -n 1 "$out/share-check.log"));" \
			"the daemons serve directories on the host's file system (--share dir)" >&2
		share=dir
	fi
	umount "$share_mnt" 2>/dev/null || true
	rm -f "$share_img"
	[[ $share == ext4 ]] && rm -f "$out/share-check.log"
	share_mnt= share_img=
fi
if [[ $share == ext4 ]]; then
	share_desc="a fresh ext4 per boot (same image size and mkfs as the volume's), loop-mounted on the host"
else
	share_desc="a fresh directory per boot on the host's file system: $(findmnt -n -o FSTYPE,SOURCE --target "$FERRY_WORK" 2>/dev/null | tr -s " " || echo unknown)"
fi

echo "perf matrix: ${labels[*]}"
echo "command: $command_line"
echo "ferryd: $ferryd_src (built $ferryd_built), $vfs_version"
echo "machine: $cpu, $(nproc) CPUs, host kernel $(uname -r), accelerator $accel_name (${accel[*]})"
echo "sizes: $append"
echo "daemons' shares: $share_desc"
echo "output: $out"

# Page cache the host has not used yet is slow to touch the first time (this host may itself
# be a VM): without this, the first config's sequential write pays for it.
dd if=/dev/zero of="$out/warm-up" bs=1M count=$((seq_mib * 2)) conv=fsync status=none
rm -f "$out/warm-up"

raw=$out/raw.tsv
: >"$raw"
: >"$out/counts.tsv"
declare -a status=() figures=() seconds=() problems=()
failed=0
started=$SECONDS
# The configs' order in round R: rotated by (R-1)/2 places, and reversed in even rounds, so
# that across rounds each config boots first and after different others (A, B / B, A for two).
round_order() {
	local n=${#labels[@]} k=$((($1 - 1) / 2)) j order=()
	for ((j = 0; j < n; j++)); do
		order+=($(((j + k) % n)))
	done
	if (($1 % 2 == 0)); then
		for ((j = n - 1; j >= 0; j--)); do printf '%s\n' "${order[j]}"; done
	else
		printf '%s\n' "${order[@]}"
	fi
}
# Warm-up rounds (numbered 0 and down) boot the first config once each and keep nothing.
boots() { # round
	if (($1 < 1)); then echo 0; else round_order "$1"; fi
}
for round in $(seq $((1 - warmup)) "$rounds"); do
for i in $(boots "$round"); do
	label=${labels[i]} daemon=${daemons[i]}
	slug=${label//[^A-Za-z0-9=.-]/_}.r$round
	((round < 1)) && slug=warm-up.$((1 - round))
	mapfile -t args < <(printf '%s' "${dargs[i]}" | sed '/^$/d')
	big=0
	((round >= 1 && round <= big_rounds)) && big=$big_files
	vm=(--daemon "$daemon" --suites perf --timeout "$timeout_min"
		--append "$append ferry.perf.big=$big" --ferryd "${bins[i]:-$ferryd_bin}")
	if [[ $daemon == none ]]; then
		# A fresh file system for each run: sparse, with its inode tables and journal
		# written now so that no lazy init runs in the guest during the measurements.
		volume_img=$out/volume.img
		fresh_ext4 "$volume_img" ferry-volume
		vm+=(--disk "$volume_img")
	elif [[ $share == ext4 ]]; then
		share_img=$out/share.img share_mnt=$out/share
		fresh_ext4 "$share_img" ferry-share
		mount -o loop "$share_img" "$share_mnt"
		vm+=(--shared-dir "$share_mnt")
	fi
	[[ $counts == 1 && $daemon == ferryd ]] && args+=(--stats)
	[[ -n $queue_size && $daemon != none ]] && vm+=(--queue-size "$queue_size")
	[[ $label == ferryd+agent* ]] && vm+=(--agent)
	[[ $label == ferryd+dax=* ]] && { mode=${label#ferryd+dax=}; vm+=(--dax "${mode%% *}"); }
	[[ -n ${p9opts[i]} ]] && vm+=(--9p-opts "${p9opts[i]}")
	[[ ${#args[@]} -gt 0 ]] && vm+=(-- "${args[@]}")
	echo
	if ((round < 1)); then
		echo "=== warm-up boot $((1 - round))/$warmup, not measured: $label ($(date -u +%H:%M:%S))"
	else
		echo "=== round $round/$rounds, [$((i + 1))/${#labels[@]}] $label ($(date -u +%H:%M:%S))"
	fi
	# The previous boot's files reach the host's disk now, not during this one's writes.
	sync
	t0=$SECONDS
	rc=0
	"$REPO/scripts/vm-test.sh" "${vm[@]}" >"$out/logs/$slug.vm-test.log" 2>&1 || rc=$?
	run=$FERRY_WORK/runs/$daemon
	cp "$run/serial.log" "$out/logs/$slug.serial.log" 2>/dev/null || true
	cp "$run/daemon.log" "$out/logs/$slug.daemon.log" 2>/dev/null || true
	if ((round < 1)); then
		# A warm-up boot counts for nothing, not even as a failure.
		echo "    $((SECONDS - t0))s, vm-test.sh exit $rc"
	else
		# Repetition numbers count on across rounds.
		off=$(((round - 1) * reps))
		n=0
		if [[ -f $run/serial.log ]]; then
			while read -r workload rep value unit; do
				printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$workload" "$((off + rep))" "$value" \
					"$unit" >>"$raw"
				n=$((n + 1))
			done < <(sed -n -e 's/\r$//' -e 's/^.*FERRY-PERF //p' "$run/serial.log")
		fi
		sed -n -e 's/\r$//' -e 's/^.*FERRY-COUNT //p' "$run/serial.log" 2>/dev/null |
			while read -r workload rep op cnt; do
				printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$workload" "$((off + rep))" "$op" "$cnt"
			done >>"$out/counts.tsv"
		errors=$(sed -n -e 's/\r$//' -e 's/^.*FERRY-ERROR //p' "$run/serial.log" 2>/dev/null |
			head -n 3 | paste -sd';' - || true)
		figures[i]=$((${figures[i]:-0} + n))
		seconds[i]=$((${seconds[i]:-0} + SECONDS - t0))
		st="$n figures in $((SECONDS - t0))s"
		if [[ $rc != 0 ]]; then
			st+=", vm-test.sh exit $rc"
			problems[i]+=" round $round: vm-test.sh exit $rc;"
			failed=1
			grep -E 'fail|died|timeout' "$out/logs/$slug.vm-test.log" | grep -v ' ok ' |
				tail -n 5 | sed 's/^/    /' || true
		fi
		if [[ -n $errors ]]; then
			st+=", guest errors: $errors"
			problems[i]+=" round $round: $errors;"
		fi
		echo "    $st"
	fi
	if [[ $daemon == none ]]; then
		rm -f "$volume_img"
		volume_img=
	elif [[ -n $share_mnt ]]; then
		umount "$share_mnt"
		rm -f "$share_img"
		share_mnt= share_img=
	fi
done
done
for i in "${!labels[@]}"; do
	status[i]="${figures[i]} figures in ${seconds[i]}s over $rounds boots${problems[i]:+,${problems[i]%;}}"
done
total=$((SECONDS - started))
rmdir "$out/share" 2>/dev/null || true

{
	echo "{"
	echo "  \"command\": $(json_str "$command_line"),"
	echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
	echo "  \"commit\": $(json_str "$commit"),"
	echo "  \"ferryd\": $(json_str "$ferryd_src, built $ferryd_built"),"
	echo "  \"total_seconds\": $total,"
	echo "  \"machine\": {"
	echo "    \"cpu\": $(json_str "$cpu"), \"host_cpus\": $(nproc),"
	echo "    \"host_kernel\": $(json_str "$(uname -r)"),"
	echo "    \"accel\": \"$accel_name\", \"accel_args\": $(json_str "${accel[*]}"),"
	echo "    \"qemu\": $(json_str "$qemu_version"), \"virtiofsd\": $(json_str "$vfs_version"),"
	echo "    \"guest_kernel\": $(json_str "$guest_kernel"), \"guest_cpus\": 2, \"guest_mem\": \"1 GiB\","
	echo "    \"volume\": $(json_str "$volume_desc"),"
	echo "    \"shares\": $(json_str "$share_desc")"
	echo "  },"
	echo "  \"params\": {\"seq_mib\": $seq_mib, \"rand_mib\": $rand_mib, \"runtime_s\": $runtime,"
	echo "    \"counts\": $counts, \"queue_size\": $(json_str "${queue_size:-128 (QEMU default)}"),"
	echo "    \"files\": $files, \"dirs\": $dirs, \"file_size\": $file_size,"
	echo "    \"big_files\": $big_files, \"big_rounds\": $big_rounds, \"rounds\": $rounds, \"warmup\": $warmup, \"reps\": $reps, \"work\": $(json_str "$work"), \"quick\": $quick},"
	echo "  \"configs\": ["
	for i in "${!labels[@]}"; do
		sep=,
		[[ $i == $((${#labels[@]} - 1)) ]] && sep=
		echo "    {\"label\": $(json_str "${labels[i]}"), \"daemon\": \"${daemons[i]}\"," \
			"\"status\": $(json_str "${status[i]}")}$sep"
	done
	echo "  ]"
	echo "}"
} >"$out/meta.json"

echo
report=("$REPO/scripts/perf-report.py" "$out")
[[ $chart == 1 ]] || report+=(--no-chart)
# Debian's python3, where python3-matplotlib is (not one a version manager put first).
py=python3
[[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
"$py" "${report[@]}"
if [[ -s $out/counts.tsv ]]; then
	echo
	"$py" "$REPO/scripts/perf-counts.py" "$out"
fi
echo
echo "matrix took ${total}s; results in $out (table.txt, table.md, results.json, chart.svg)"
exit "$failed"
}
