#!/bin/sh
# The guest's "perf" suite (busybox sh), run by /init on whatever is mounted on /mnt: a
# virtio-fs share or the guest's own ext4 disk. Packed into perf.cpio.gz by
# scripts/prepare-guest.sh as /bin/perf-suite; scripts/perf-matrix.sh drives it.
#
# Parameters come from the kernel command line as ferry.perf.<name>=<value>, which /init
# exports as PERF_<name>:
#   seq=256     sequential file size, MiB
#   rnd=64      random-I/O file size, MiB
#   rt=5        seconds per random-I/O job
#   files=2000  small files in the metadata series
#   dirs=20     directories they are spread over
#   fsize=1024  bytes per small file
#   reps=3      repetitions of everything but the big series
#   big=0       files in one more metadata series (0: none)
#   work=fio,meta  which parts to run (fio, meta)
#   count=0     1: also count the FUSE requests each workload sends (guest view, below)
#
# Output, one line per figure and repetition:
#   FERRY-PERF <workload> <rep> <value> <unit>
# units: MiB/s and IOPS (higher is better), s (lower is better).
# With count=1, after each workload and repetition, one line per FUSE opcode it sent:
#   FERRY-COUNT <workload> <rep> <opcode> <requests>
# counted in the guest kernel, so the same for every daemon: kprobe events on
# __fuse_simple_request (6.12: idmap, fuse_mount, fuse_args) and fuse_simple_background
# (fuse_mount, fuse_args), where the opcode is struct fuse_args' u32 at offset 8, and on
# fuse_queue_forget (FORGET, 2), each with a hist trigger keyed on the opcode. The probes cost guest CPU: timings of a counting boot are
# not comparable with a boot without them. Around each workload it also writes
#   FERRY-STATS-MARK <workload> <rep> begin|end
# for the daemon's own time (stats_mark, below).
# Last: FERRY-RESULT perf: N passed, N failed (one per workload and repetition).

SEQ=${PERF_seq:-256}
RND=${PERF_rnd:-64}
RT=${PERF_rt:-5}
FILES=${PERF_files:-2000}
DIRS=${PERF_dirs:-20}
FSIZE=${PERF_fsize:-1024}
REPS=${PERF_reps:-3}
BIG=${PERF_big:-0}
WORK=${PERF_work:-fio,meta}
COUNT=${PERF_count:-0}

D=/mnt/ferry-perf
ok=0
bad=0

echo "perf: on $(awk '$2 == "/mnt" { print $3, $1 }' /proc/mounts), $(nproc) vCPUs," \
	"seq=${SEQ}M rnd=${RND}M rt=${RT}s files=$FILES dirs=$DIRS fsize=$FSIZE reps=$REPS big=$BIG"

emit() { # workload rep value unit
	if [ -n "$3" ]; then
		echo "FERRY-PERF $1 $2 $3 $4"
		ok=$((ok + 1))
	else
		echo "FERRY-ERROR perf: $1 rep $2 gave no figure"
		bad=$((bad + 1))
	fi
}

drop() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

T=/sys/kernel/tracing
PROBES="sreq breq fget"

count_setup() {
	[ -d $T/events ] || mount -t tracefs nodev $T || return 1
	for probe in 'p:ferry/sreq __fuse_simple_request op=+8(%dx):u32' \
		'p:ferry/breq fuse_simple_background op=+8(%si):u32' \
		'p:ferry/fget fuse_queue_forget'; do
		echo "$probe" >>$T/kprobe_events || {
			echo "perf: kprobe '$probe' refused"
			return 1
		}
	done
}

# The forget probe has no opcode argument: its hist is keyed on the pid and counted as
# FORGET (2).
key() { if [ "$1" = fget ]; then echo common_pid; else echo op; fi; }

# A counting boot also asks a daemon run with --stats for its own table before and after
# each workload (scripts/vm-test.sh sends it SIGUSR1 for every mark); the pause lets the
# table reach the daemon's log, and any background request of the workload its end.
stats_mark() { # workload rep begin|end
	echo "FERRY-STATS-MARK $1 $2 $3"
	sleep 1
}

count_begin() { # workload rep
	[ "$COUNT" = 1 ] || return 0
	stats_mark "$1" "$2" begin
	for e in $PROBES; do echo "hist:keys=$(key $e)" >$T/events/ferry/$e/trigger; done
}

count_end() { # workload rep
	[ "$COUNT" = 1 ] || return 0
	stats_mark "$1" "$2" end
	for e in $PROBES; do
		cat $T/events/ferry/$e/hist
		echo "!hist:keys=$(key $e)" >$T/events/ferry/$e/trigger
	done | awk -v w="$1" -v r="$2" '/^\{.*hitcount:/ {
		gsub(/[{}:]/, " ")
		for (i = 1; i < NF; i++) if ($i == "hitcount") c = $(i + 1)
		n[$1 == "op" ? $2 : 2] += c }
		END { for (op in n) print "FERRY-COUNT " w " " r " " op " " n[op] }'
}

# fio --output-format=terse (v3): fields 7/8 = read KiB/s and IOPS, 48/49 = write.
fio_run() { # name file size-MiB what(bw|iops) fio-args...
	name=$1 file=$2 size=$3 what=$4
	shift 4
	if ! fio --name="$name" --filename="$file" --size="${size}M" --output-format=terse \
		--terse-version=3 "$@" >/tmp/fio.out 2>/tmp/fio.err; then
		sed 's/^/fio: /' /tmp/fio.err
		return
	fi
	awk -F';' -v job="$name" -v what="$what" '$3 == job {
		if (what == "bw") printf "%.1f\n", ($7 + $48) / 1024
		else printf "%d\n", $8 + $49 }' /tmp/fio.out
}

# One figure: runs COMMAND (which prints it) between the request counters and emits it.
measure() { # workload rep unit command...
	w=$1 wr=$2 u=$3
	shift 3
	count_begin "$w" "$wr"
	v=$("$@")
	emit "$w" "$wr" "$v" "$u"
	count_end "$w" "$wr"
}

# ferry-perf's seconds (the first word it prints).
seconds() {
	ferry-perf "$@" | cut -d' ' -f1
}

run_fio() { # rep
	r=$1
	rm -f $D/seq
	measure seqwrite "$r" MiB/s fio_run seqwrite $D/seq "$SEQ" bw --rw=write --bs=1M \
		--ioengine=psync --end_fsync=1
	drop
	measure seqread "$r" MiB/s fio_run seqread $D/seq "$SEQ" bw --rw=read --bs=1M \
		--ioengine=psync
	rm -f $D/seq
	measure randread-qd1 "$r" IOPS fio_run randread-qd1 $D/rnd "$RND" iops --rw=randread \
		--bs=4k --ioengine=psync --direct=1 --time_based --runtime="$RT"
	measure randread-qd16 "$r" IOPS fio_run randread-qd16 $D/rnd "$RND" iops --rw=randread \
		--bs=4k --ioengine=libaio --iodepth=16 --direct=1 --time_based --runtime="$RT"
	measure randwrite-fsync "$r" IOPS fio_run randwrite-fsync $D/rnd "$RND" iops \
		--rw=randwrite --bs=4k --ioengine=psync --fsync=1 --time_based --runtime="$RT"
}

# create; a cold listing of names alone (readdir, no stat: the cost of attributes nobody
# asked for); cold find (caches dropped again); tar of everything (data cold: dropped before
# find) read through a pipe; lstat of every entry x5 (warm); a warm git-status-like walk x3
# (every directory listed again and every entry lstat'ed, each pass); rm -rf.
run_meta() { # prefix rep files
	p=$1 r=$2 n=$3 t=$D/tree
	rm -rf $t
	measure "$p-create" "$r" s seconds create $t "$n" "$DIRS" "$FSIZE"
	drop
	measure "$p-list" "$r" s seconds list $t
	drop
	measure "$p-find" "$r" s seconds run find $t
	cd $D
	measure "$p-tar" "$r" s seconds run tar cf - tree
	cd - >/dev/null
	measure "$p-lstat5" "$r" s seconds lstat $t 5
	measure "$p-status3" "$r" s seconds status $t 3
	measure "$p-rm" "$r" s seconds run rm -rf $t
	sync
}

if [ "$COUNT" = 1 ] && ! count_setup; then
	echo "FERRY-ERROR perf: no kprobe events for counting requests"
	COUNT=0
fi
rm -rf $D
mkdir -p $D
case ",$WORK," in
*,fio,*)
	# The random-I/O file is laid out once, untimed.
	fio --name=layout --filename=$D/rnd --size="${RND}M" --rw=write --bs=1M \
		--end_fsync=1 >/dev/null 2>&1
	;;
esac
r=1
while [ "$r" -le "$REPS" ]; do
	case ",$WORK," in *,fio,*) run_fio "$r" ;; esac
	case ",$WORK," in *,meta,*) run_meta meta "$r" "$FILES" ;; esac
	r=$((r + 1))
done
# The big series is part of the metadata work.
case ",$WORK," in *,meta,*) if [ "$BIG" -gt 0 ]; then run_meta bigmeta 1 "$BIG"; fi ;; esac
rm -rf $D
sync
echo "FERRY-RESULT perf: $ok passed, $bad failed"
