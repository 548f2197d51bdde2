#!/usr/bin/env bash
# Prove that a libvirt domain whose virtiofs <binary path> is ferryd boots and
# that its guest reads and writes the share.
#
#   scripts/libvirt-test.sh [--ferryd PATH] [--timeout MINUTES]
#                           [--configs default,cache-always,sandbox-chroot,idmap]
#
# Needs root. Steps:
#   1. apt-get installs libvirt 11.x from <codename>-backports when missing
#      (libvirt-daemon-driver-qemu libvirt-clients libvirt-daemon; no
#      recommends), adds a marked block to /etc/libvirt/qemu.conf (QEMU as
#      root, no security driver, no cgroups, no namespaces: what a container
#      without systemd, AppArmor or SELinux allows) and starts virtlogd and
#      libvirtd by hand when they are not running (no systemd needed).
#   2. For each config ("default": no daemon options; "cache-always":
#      <cache mode='always'/>; "sandbox-chroot": <sandbox mode='chroot'/>; "idmap":
#      <idmap> mapping guest ids 0-65535 to host 100000-165535, the share owned
#      by host 100000) boots a transient TCG domain (virsh create) with
#      the kernel and initramfs of scripts/prepare-guest.sh, memfd shared
#      memory and a virtiofs <filesystem> whose <binary path> is ferryd. The
#      guest runs <share>/ferry-script.sh: it checks a host-written file,
#      writes a file back, creates a directory and lists it, then powers off.
#      Prints the ferryd command line libvirt used and how ferryd exited.
#   3. Checks per config: the guest's "FERRY-RESULT script" line says passed;
#      the host sees what the guest wrote; with "idmap", what the guest (root)
#      wrote is owned by host uid/gid 100000 and the guest saw its own files as
#      root's and the host's root-owned file as 65534 (nobody). A guest that times out with
#      rcu_preempt stall reports on its console and no script result (a TCG
#      vCPU that stopped taking timer interrupts) is booted once more.
#
# Artifacts of the latest run of each config: $FERRY_WORK/libvirt/<config>/
# (domain.xml, serial.log, shared/, ferryd-cmdline.txt, virtiofsd.log,
# qemu.log). Each VM run waits until no qemu-system process is left and holds
# /tmp/ferry-vm.lock. Last line: "N passed, N failed"; exit 0 iff none failed.
#
# Environment: FERRY_WORK, FERRY_SKIP_APT=1 (no apt-get), FERRY_BOOT_LIMIT_S (120: a guest
# that has not mounted the share by then is taken as hung and booted again), FERRY_NO_QEMU_CONF=1
# (leave /etc/libvirt/qemu.conf alone).
set -euo pipefail
export LC_ALL=C

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FERRY_WORK=${FERRY_WORK:-$REPO/.work}
KERNEL=$FERRY_WORK/kernel/vmlinuz
INITRD=$FERRY_WORK/guest/base.cpio.gz
URI=qemu:///system
# The host id the "idmap" config maps the guest's 0 to.
IDMAP_BASE=100000
VM_LOCK=/tmp/ferry-vm.lock
QEMU_CONF=/etc/libvirt/qemu.conf
LIBVIRT_PACKAGES=(libvirt-daemon-driver-qemu libvirt-clients libvirt-daemon)

ferryd_bin=$REPO/target/release/ferryd
timeout_min=5
boot_limit_s=${FERRY_BOOT_LIMIT_S:-120}
configs=default,cache-always,sandbox-chroot,idmap

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--ferryd) ferryd_bin=$2; shift 2 ;;
	--timeout) timeout_min=$2; shift 2 ;;
	--configs) configs=$2; shift 2 ;;
	-h | --help) usage 0 ;;
	*) echo "unknown argument: $1" >&2; usage 2 ;;
	esac
done
IFS=, read -r -a config_list <<<"$configs"
for c in "${config_list[@]}"; do
	case $c in
	default | cache-always | sandbox-chroot | idmap) ;;
	*) echo "unknown config: $c (default, cache-always, sandbox-chroot, idmap)" >&2; exit 2 ;;
	esac
done

[[ $(id -u) == 0 ]] || { echo "run as root" >&2; exit 2; }
for f in "$KERNEL" "$INITRD"; do
	[[ -f $f ]] || { echo "missing $f: run scripts/prepare-guest.sh" >&2; exit 2; }
done
[[ -x $ferryd_bin ]] || { echo "missing $ferryd_bin: cargo build --release" >&2; exit 2; }
ferryd_bin=$(readlink -f "$ferryd_bin")

log() { echo "libvirt-test: $*"; }

# --- 1. libvirt ----------------------------------------------------------

install_libvirt() {
	local p st missing=()
	for p in "${LIBVIRT_PACKAGES[@]}"; do
		st=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$p" 2>/dev/null || true)
		[[ $st == "ii "* && ${st#ii } == 11.* ]] || missing+=("$p")
	done
	if [[ ${#missing[@]} -eq 0 ]]; then
		log "libvirt $(dpkg-query -W -f='${Version}' libvirt-daemon) already installed"
		return
	fi
	if [[ ${FERRY_SKIP_APT:-0} == 1 ]]; then
		echo "libvirt 11.x missing (${missing[*]}) and FERRY_SKIP_APT=1" >&2
		exit 2
	fi
	local codename
	codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
	log "installing ${LIBVIRT_PACKAGES[*]} from $codename-backports"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -t "$codename-backports" \
		--no-install-recommends "${LIBVIRT_PACKAGES[@]}"
}

# The block this script keeps at the end of qemu.conf. The defaults of all
# these keys are commented out in Debian's file, so appending does not
# duplicate a key.
QEMU_CONF_BEGIN="# BEGIN ferry scripts/libvirt-test.sh"
QEMU_CONF_END="# END ferry scripts/libvirt-test.sh"
qemu_conf_block() {
	cat <<EOF
$QEMU_CONF_BEGIN
# QEMU (and the virtiofs daemon) run as root: no chown of the kernel, initrd,
# serial log or shared dir, and no AppArmor/SELinux, cgroups or private /dev
# namespace (a container without systemd has none of them to offer).
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
$QEMU_CONF_END
EOF
}

# Returns 0 when qemu.conf changed.
configure_qemu_conf() {
	[[ ${FERRY_NO_QEMU_CONF:-0} == 1 ]] && return 1
	local want cur
	want=$(qemu_conf_block)
	cur=$(sed -n "\\|^$QEMU_CONF_BEGIN\$|,\\|^$QEMU_CONF_END\$|p" "$QEMU_CONF")
	[[ $cur == "$want" ]] && return 1
	log "writing the ferry block of $QEMU_CONF"
	sed -i "\\|^$QEMU_CONF_BEGIN\$|,\\|^$QEMU_CONF_END\$|d" "$QEMU_CONF"
	printf '%s\n' "$want" >>"$QEMU_CONF"
	return 0
}

pid_alive() { # pidfile: the pid it names is alive
	local pid
	[[ -f $1 ]] || return 1
	pid=$(cat "$1" 2>/dev/null) || return 1
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# Waits for the VM lock, then for any other QEMU to be gone.
# LOCK_FD stays open until vm_unlock; daemons started meanwhile must not
# inherit it.
LOCK_FD=
vm_lock() {
	exec {LOCK_FD}>"$VM_LOCK"
	if ! flock -n "$LOCK_FD"; then
		log "waiting for $VM_LOCK"
		flock "$LOCK_FD"
	fi
	# vm-test.sh holds the same lock for its whole run; a QEMU started some
	# other way is waited for here.
	while pgrep -f qemu-system >/dev/null; do
		sleep 2
	done
}
vm_unlock() {
	[[ -n $LOCK_FD ]] || return 0
	flock -u "$LOCK_FD" || true
	exec {LOCK_FD}>&-
	LOCK_FD=
}

start_libvirt() {
	local restart=$1
	if ! pid_alive /run/virtlogd.pid; then
		log "starting virtlogd"
		if [[ -n $LOCK_FD ]]; then
			virtlogd -d --pid-file /run/virtlogd.pid {LOCK_FD}>&-
		else
			virtlogd -d --pid-file /run/virtlogd.pid
		fi
	fi
	if pid_alive /run/libvirtd.pid && [[ $restart == 1 ]]; then
		if virsh -c "$URI" list --name 2>/dev/null | grep -q .; then
			echo "qemu.conf changed but libvirtd runs domains; restart it by hand" >&2
			exit 2
		fi
		log "restarting libvirtd for the new qemu.conf"
		local pid
		pid=$(cat /run/libvirtd.pid)
		kill "$pid"
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	if ! pid_alive /run/libvirtd.pid; then
		# Starting the QEMU driver probes qemu-system: do it under the VM lock.
		log "starting libvirtd (log: /var/log/libvirt/libvirtd.log)"
		mkdir -p /var/log/libvirt
		LIBVIRT_LOG_OUTPUTS="3:file:/var/log/libvirt/libvirtd.log" \
			libvirtd -d --pid-file /run/libvirtd.pid {LOCK_FD}>&-
	fi
	local t0=$SECONDS
	until virsh -c "$URI" version >/dev/null 2>&1; do
		if ((SECONDS - t0 > 60)); then
			echo "libvirtd does not answer on $URI; /var/log/libvirt/libvirtd.log:" >&2
			tail -n 30 /var/log/libvirt/libvirtd.log >&2 || true
			exit 2
		fi
		sleep 0.5
	done
	log "$(virsh -c "$URI" version | sed -n 's/^Using library: //p;s/^Running hypervisor: //p' | paste -sd, - | sed 's/,/, /')"
}

install_libvirt
restart=0
configure_qemu_conf && restart=1
vm_lock
start_libvirt "$restart"
vm_unlock

# What libvirt will read with <binary path>: ferryd --print-capabilities.
caps=$("$ferryd_bin" --print-capabilities)
log "ferryd --print-capabilities: $caps"
if ! grep -qE '"type" *: *"fs"' <<<"$caps" || ! grep -qF '"separate-options"' <<<"$caps"; then
	log "WARNING: capabilities lack type fs or separate-options: libvirt would use the legacy -o syntax"
fi

# --- 2. the domains ---------------------------------------------------------

checks_passed=0
checks_failed=0
declare -a SUMMARY=()
record() { # config check ok|fail note
	if [[ $3 == ok ]]; then
		checks_passed=$((checks_passed + 1))
	else
		checks_failed=$((checks_failed + 1))
	fi
	SUMMARY+=("$(printf '%-13s %-16s %-4s %s' "$1" "$2" "$3" "$4")")
}

xml_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e "s/'/\&apos;/g" <<<"$1"; }

domain_xml() { # name run_dir config
	local name=$1 run=$2 config=$3 cache=
	case $config in
	cache-always) cache="
        <cache mode='always'/>" ;;
	sandbox-chroot) cache="
        <sandbox mode='chroot'/>" ;;
	esac
	local idmap=
	if [[ $config == idmap ]]; then
		idmap="
      <idmap>
        <uid start='0' target='$IDMAP_BASE' count='65536'/>
        <gid start='0' target='$IDMAP_BASE' count='65536'/>
      </idmap>"
	fi
	cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='GiB'>1</memory>
  <vcpu>2</vcpu>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$(xml_escape "$KERNEL")</kernel>
    <initrd>$(xml_escape "$INITRD")</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 ferry.tag=share ferry.suites=script</cmdline>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <cpu mode='maximum' check='none'/>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <filesystem type='mount' accessmode='passthrough'>
      <driver type='virtiofs'/>
      <binary path='$(xml_escape "$ferryd_bin")'>$cache
      </binary>
      <source dir='$(xml_escape "$run/shared")'/>
      <target dir='share'/>$idmap
    </filesystem>
    <serial type='file'>
      <source path='$(xml_escape "$run/serial.log")' append='off'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# The guest's script: check the host's file, write one back, mkdir, list.
guest_script() { # host_content guest_content
	cat <<EOF
set -e
cd /mnt
got=\$(cat host-file.txt)
test "\$got" = "$1"
echo "$2" > guest-file.txt
mkdir guest-dir
echo inner > guest-dir/inner.txt
ls -la /mnt /mnt/guest-dir
test "\$(cat guest-file.txt)" = "$2"
echo "FERRY-OWNERS host-file \$(stat -c '%u:%g' host-file.txt) guest-file \$(stat -c '%u:%g' guest-file.txt)"
sync
EOF
}

# The ferryd libvirt started for domain $1: pid on stdout.
find_ferryd() {
	local name=$1 f pid p
	for f in /run/libvirt/qemu/*-"$name"-fs*-virtiofsd.pid; do
		[[ -f $f ]] || continue
		pid=$(cat "$f" 2>/dev/null || true)
		[[ -n $pid && -d /proc/$pid ]] && { echo "$pid"; return 0; }
	done
	# No pidfile yet: any ferryd with --fd= serving this run's shared dir.
	for p in /proc/[0-9]*; do
		[[ $(readlink "$p/exe" 2>/dev/null) == "$ferryd_bin" ]] || continue
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "--fd=" || continue
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$2" || continue
		echo "${p#/proc/}"
		return 0
	done
	return 1
}

# /proc/<pid>/cmdline as one line; only arguments that need it are quoted.
quote_cmdline() {
	local a out=()
	while IFS= read -r -d '' a; do
		if [[ $a =~ ^[][A-Za-z0-9_./=:,@+%-]+$ ]]; then out+=("$a"); else out+=("$(printf '%q' "$a")"); fi
	done <"/proc/$1/cmdline"
	echo "${out[*]}"
}

# Domain state: running, "shut off", ... or "gone" once the transient domain
# is undefined.
dom_state() {
	local s
	s=$(virsh -c "$URI" domstate "$1" 2>/dev/null) || s=
	s=${s//$'\n'/}
	echo "${s:-gone}"
}

run_config() {
	local config=$1
	local name=ferry-lv-$config
	local run=$FERRY_WORK/libvirt/$config
	echo
	echo "=== $config: domain $name, ferryd $ferryd_bin"
	rm -rf "$run"
	mkdir -p "$run/shared"
	local token host_content guest_content
	token=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
	host_content="host wrote this for $config $token"
	guest_content="guest wrote this for $config $token"
	printf '%s\n' "$host_content" >"$run/shared/host-file.txt"
	guest_script "$host_content" "$guest_content" >"$run/shared/ferry-script.sh"
	# With <idmap> the guest's root is host 100000, which owns the share (host-file.txt stays
	# root's: unmapped, the guest must see it as nobody).
	if [[ $config == idmap ]]; then
		chown "$IDMAP_BASE:$IDMAP_BASE" "$run/shared" "$run/shared/ferry-script.sh"
	fi
	domain_xml "$name" "$run" "$config" >"$run/domain.xml"

	if [[ $(dom_state "$name") != gone ]]; then
		log "destroying a leftover domain $name"
		virsh -c "$URI" destroy "$name" >/dev/null 2>&1 || true
		virsh -c "$URI" undefine "$name" >/dev/null 2>&1 || true
	fi

	# libvirt appends to its logs: remember where this run starts.
	local vlog=/var/log/libvirt/qemu/$name-fs0-virtiofsd.log qlog=/var/log/libvirt/qemu/$name.log
	local vlog_off qlog_off
	vlog_off=$(stat -c %s "$vlog" 2>/dev/null || echo 0)
	qlog_off=$(stat -c %s "$qlog" 2>/dev/null || echo 0)

	vm_lock
	local t0=$SECONDS
	local create_out
	if ! create_out=$(virsh -c "$URI" create "$run/domain.xml" 2>&1); then
		vm_unlock
		printf 'virsh: %s\n' "$create_out"
		record "$config" boot+script fail "virsh create failed: $(echo "$create_out" | grep -m1 error || true)"
		record "$config" host-sees-write fail "no guest run"
		return
	fi
	printf 'virsh: %s\n' "$create_out"

	# ferryd's command line, while it runs.
	local fpid='' qpid='' i cmdline='' fdinfo=''
	for ((i = 0; i < 50; i++)); do
		fpid=$(find_ferryd "$name" "$run/shared") && break
		sleep 0.1
	done
	if [[ -n $fpid ]]; then
		cmdline=$(quote_cmdline "$fpid")
		local n
		n=$(tr '\0' '\n' <"/proc/$fpid/cmdline" | sed -n 's/^--fd=\([0-9]*\)$/\1/p')
		[[ -n $n ]] && fdinfo="fd $n -> $(readlink "/proc/$fpid/fd/$n" 2>/dev/null || echo '?')"
		echo "$cmdline" >"$run/ferryd-cmdline.txt"
		log "ferryd pid $fpid (parent $(ps -o ppid= -p "$fpid" | tr -d ' '), user $(ps -o user= -p "$fpid"))"
		log "ferryd command line: $cmdline"
		if [[ -n $fdinfo ]]; then log "ferryd $fdinfo"; fi
	else
		log "no ferryd process found for $name"
	fi
	qpid=$(pgrep -f -- "guest=$name," | head -n 1 || true)

	# Wait for the guest to power off; note when QEMU and ferryd go away.
	# A boot takes 4-10 s here; a guest that has not mounted the share after
	# boot_limit_s hung in the emulator before ferryd saw a request (seen in CI: an
	# empty console, no FUSE INIT): stop waiting for it then, not after timeout_min.
	local deadline=$((SECONDS + timeout_min * 60)) state timed_out=0 boot_hung=0
	local boot_deadline=$((SECONDS + boot_limit_s))
	local q_gone='' f_gone=''
	while :; do
		if [[ -n $qpid && -z $q_gone ]] && ! kill -0 "$qpid" 2>/dev/null; then q_gone=$SECONDS; fi
		if [[ -n $fpid && -z $f_gone ]] && ! kill -0 "$fpid" 2>/dev/null; then f_gone=$SECONDS; fi
		state=$(dom_state "$name")
		[[ $state == gone || $state == "shut off" ]] && break
		if ((SECONDS >= deadline)); then
			timed_out=1
			log "timeout after $timeout_min min; destroying $name"
			virsh -c "$URI" destroy "$name" >/dev/null 2>&1 || true
			break
		fi
		if ((boot_deadline && SECONDS >= boot_deadline)); then
			if grep -q -a 'FERRY-MOUNTED' "$run/serial.log" 2>/dev/null; then
				boot_deadline=0
			else
				timed_out=1 boot_hung=1
				log "the guest has not mounted the share after ${boot_limit_s}s; destroying $name"
				virsh -c "$URI" destroy "$name" >/dev/null 2>&1 || true
				break
			fi
		fi
		sleep 0.2
	done
	local elapsed=$((SECONDS - t0))
	if [[ -n $qpid && -z $q_gone ]] && ! kill -0 "$qpid" 2>/dev/null; then q_gone=$SECONDS; fi
	# ferryd should be gone by now (on its own, or stopped by libvirt).
	for ((i = 0; i < 50; i++)); do
		[[ -z $fpid ]] || ! kill -0 "$fpid" 2>/dev/null && break
		sleep 0.2
	done
	if [[ -n $fpid && -z $f_gone ]] && ! kill -0 "$fpid" 2>/dev/null; then f_gone=$SECONDS; fi
	vm_unlock
	log "domain $name: ${state/gone/shut off (transient, undefined)} after ${elapsed}s${q_gone:+ (QEMU gone at +$((q_gone - t0))s)}"

	# libvirt's logs: ferryd's stderr and QEMU's command line.
	if [[ -f $vlog ]]; then tail -c +$((vlog_off + 1)) "$vlog" >"$run/virtiofsd.log"; fi
	if [[ -f $qlog ]]; then tail -c +$((qlog_off + 1)) "$qlog" >"$run/qemu.log"; fi
	if [[ -f $run/virtiofsd.log ]]; then
		log "ferryd's stderr (libvirt's $vlog, this run):"
		tail -n 20 "$run/virtiofsd.log" | cut -c1-300 | sed 's/^/    /'
	else
		log "no $vlog"
	fi
	if [[ -f $run/qemu.log ]]; then
		log "QEMU's memory and vhost-user-fs arguments (libvirt's $qlog):"
		tr ' ' '\n' <"$run/qemu.log" | grep -E 'vhost-user-fs|fs[0-9]*-fs.sock|memory-backend' |
			sed 's/^/    /' || true
	fi

	# How ferryd ended. libvirt is its parent, so the exit status is not ours
	# to read: judge by its log and by who went first.
	local how
	if [[ -z $fpid ]]; then
		how="unknown (never found)"
	elif kill -0 "$fpid" 2>/dev/null; then
		how="STILL RUNNING (pid $fpid) after the domain stopped"
	elif [[ -f $run/virtiofsd.log ]] && tail -n 5 "$run/virtiofsd.log" | grep -q 'VMM disconnected: exiting'; then
		how="exited on its own after QEMU disconnected (logged 'VMM disconnected: exiting', the exit-0 path)"
	elif [[ -f $run/virtiofsd.log ]] && tail -n 5 "$run/virtiofsd.log" | grep -qE '\] |ERROR|error'; then
		how="exited with an error: $(tail -n 1 "$run/virtiofsd.log")"
	else
		how="gone without an exit message (likely stopped by libvirt's SIGTERM/SIGKILL)"
	fi
	if [[ -n $f_gone && -n $q_gone ]]; then how+="; gone $((f_gone - q_gone))s after QEMU"; fi
	log "ferryd exit: $how"

	# Checks.
	echo "--- guest (serial.log):"
	sed -e 's/\r$//' "$run/serial.log" 2>/dev/null | grep -E '^(FERRY-|script: )|Kernel panic' | sed 's/^/    /' || true
	local line
	line=$(sed -n -e 's/\r$//' -e 's/^.*\(FERRY-RESULT script: \)/\1/p' "$run/serial.log" 2>/dev/null | tail -n 1)
	# A TCG guest whose vCPU stops taking timer interrupts hangs before its script runs, its
	# console full of rcu_preempt stall reports ("timer wakeup didn't happen"; seen once in
	# CI, from 3 s after boot). That is the emulator's doing, not ferryd's (a FUSE request
	# that never completes shows as a hung task, not as an RCU stall): boot the config once
	# more, and say so.
	# The same goes for a guest that never reached its mount (the daemon log then has
	# no FUSE INIT: ferryd had nothing to answer).
	if [[ $timed_out == 1 && -z $line ]]; then
		echo "--- last lines of the guest console:"
		sed -e 's/\r$//' "$run/serial.log" 2>/dev/null | tail -n 15 | cut -c1-200 | sed 's/^/    /' || true
	fi
	local why=
	if grep -q 'rcu_preempt detected stalls' "$run/serial.log" 2>/dev/null; then
		why="rcu_preempt stalls on its console"
	elif [[ $boot_hung == 1 ]] && ! grep -q 'FUSE INIT' "$run/virtiofsd.log" 2>/dev/null; then
		why="no mount after ${boot_limit_s}s and no FUSE INIT in ferryd's log"
	fi
	if [[ $timed_out == 1 && -z $line && ${2:-1} == 1 && -n $why ]]; then
		cp "$run/serial.log" "$FERRY_WORK/libvirt/$config.stalled-serial.log" || true
		log "guest stalled ($why, no script result; console kept" \
			"in $FERRY_WORK/libvirt/$config.stalled-serial.log): booting $config again"
		run_config "$config" 2
		return
	fi
	local note="${elapsed}s"
	if [[ $timed_out == 1 ]]; then note+=", timed out"; fi
	if [[ ${2:-1} == 2 ]]; then note+=", second boot after a stalled guest"; fi
	if [[ $line == "FERRY-RESULT script: 1 passed, 0 failed" ]]; then
		record "$config" boot+script ok "$note"
	else
		record "$config" boot+script fail "${line:-no FERRY-RESULT script line}, $note"
	fi
	local got=
	if [[ -f $run/shared/guest-file.txt ]]; then got=$(cat "$run/shared/guest-file.txt"); fi
	if [[ $got == "$guest_content" && -d $run/shared/guest-dir && -f $run/shared/guest-dir/inner.txt ]]; then
		record "$config" host-sees-write ok "guest-file.txt, guest-dir/inner.txt"
	else
		record "$config" host-sees-write fail "guest-file.txt '${got:-<missing>}', guest-dir $([[ -d $run/shared/guest-dir ]] && echo present || echo missing)"
	fi

	if [[ $config == idmap ]]; then
		local owners want_owners="host-file 65534:65534 guest-file 0:0" host_owner
		owners=$(grep -a -o 'FERRY-OWNERS .*' "$run/serial.log" | tr -d '\r' | sed 's/^FERRY-OWNERS //' | tail -n 1)
		host_owner=$(stat -c '%u:%g' "$run/shared/guest-file.txt" 2>/dev/null || echo missing)
		if [[ $host_owner == "$IDMAP_BASE:$IDMAP_BASE" && $owners == "$want_owners" ]]; then
			record "$config" owners ok "host sees $host_owner; guest saw $owners"
		else
			record "$config" owners fail "host sees ${host_owner}, want $IDMAP_BASE:$IDMAP_BASE; guest saw '${owners:-nothing}', want '$want_owners'"
		fi
	fi

	# What the command line had to show.
	local want=(--fd= --shared-dir)
	if [[ $config == idmap ]]; then want+=(--uid-map --gid-map); fi
	if [[ $config == cache-always ]]; then want+=(--cache); fi
	if [[ $config == sandbox-chroot ]]; then want+=(--sandbox); fi
	local w miss=()
	for w in "${want[@]}"; do
		grep -qF -- "$w" "$run/ferryd-cmdline.txt" 2>/dev/null || miss+=("$w")
	done
	if [[ $config == cache-always ]] && ! grep -qE -- '--cache(=| )always' "$run/ferryd-cmdline.txt" 2>/dev/null; then
		miss+=("--cache always")
	fi
	if [[ ${#miss[@]} -eq 0 ]]; then
		log "command line shows: ${want[*]}$([[ $config == cache-always ]] && echo ' always')"
	else
		log "WARNING: command line lacks: ${miss[*]}"
	fi
	CMDLINES+=("$config: ${cmdline:-<not captured>}")
}

declare -a CMDLINES=()
trap 'vm_unlock' EXIT
for c in "${config_list[@]}"; do
	run_config "$c"
done

# --- 3. summary ---------------------------------------------------------------

echo
echo "=== ferryd command lines (as started by libvirt)"
printf '  %s\n' "${CMDLINES[@]}"
echo
echo "=== summary"
printf '%-13s %-16s %-4s %s\n' config check res note
printf '%s\n' "${SUMMARY[@]}"
echo
echo "$checks_passed passed, $checks_failed failed"
[[ $checks_failed -eq 0 ]]
