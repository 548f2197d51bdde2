# Shared by scripts/vm-test.sh and scripts/perf-matrix.sh (sourced, not run).

# Real KVM only when a kvm_intel/kvm_amd module is loaded (the nested PVM
# /dev/kvm found on some hosts cannot boot a stock kernel).
# Sets accel (QEMU arguments) and accel_name (kvm or tcg).
vm_detect_accel() {
	if [[ -d /sys/module/kvm_intel || -d /sys/module/kvm_amd ]] && [[ -w /dev/kvm ]]; then
		accel=(-accel kvm -cpu host)
		accel_name=kvm
	else
		accel=(-accel "tcg,thread=multi" -cpu max)
		accel_name=tcg
	fi
}

# One VM at a time on this machine: runs wait for each other on a lock shared
# with scripts/libvirt-test.sh (FERRY_VM_LOCK, outside FERRY_WORK on purpose).
# The lock is held on fd 9 until the calling script exits. A script that runs
# other VM scripts while holding it exports FERRY_VM_LOCK_HELD=1 to them, and
# they do not take it again (that would wait for ever on their parent).
vm_take_lock() {
	[[ ${FERRY_VM_LOCK_HELD:-0} == 1 ]] && return 0
	VM_LOCK=${FERRY_VM_LOCK:-/tmp/ferry-vm.lock}
	exec 9>>"$VM_LOCK"
	if ! flock -n 9; then
		echo "another VM run holds $VM_LOCK; waiting for it" >&2
		flock 9
	fi
}
