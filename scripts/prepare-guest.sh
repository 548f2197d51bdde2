#!/usr/bin/env bash
# Prepare everything scripts/vm-test.sh needs to boot a real Linux guest on a
# virtio-fs share. Idempotent; everything is cached under $FERRY_WORK
# (default <repo>/.work, gitignored). Needs root (apt-get).
#
#   (a) apt packages (qemu from <codename>-backports when available)
#   (b) a Debian 6.12 kernel, extracted from its .deb
#   (c) cargo install of virtiofsd 1.14.0, pjdfstest, fsx into $FERRY_WORK/tools
#   (d) scripts/guest/smoke.c, compiled statically
#   (e) initramfs: $FERRY_WORK/guest/base.cpio.gz (+ fio.cpio.gz, appended
#       by vm-test.sh only when the fio or perf suite runs)
#   (f) perf.cpio.gz, appended by vm-test.sh for the perf suite
#       (scripts/perf-matrix.sh): the guest's ext4 disk modules, ferry-perf
#       (scripts/guest/perftool.c, static) and scripts/guest/perf.sh
#
# Environment: FERRY_WORK, FERRY_SKIP_APT=1 (no apt at all).
set -euo pipefail

# Kernel pinned to the one bookworm-backports carried when this was written.
# If the archive no longer has it, the newest 6.12 amd64 (not cloud, not rt)
# image apt knows of is used instead.
KERNEL_PIN=6.12.95+deb12-amd64
VIRTIOFSD_VERSION=1.14.0 # the version BENCHMARKS.md compares with
PJDFSTEST_VERSION=0.2.2
FSX_VERSION=0.3.2
APT_PACKAGES=(busybox-static cpio xz-utils kmod libacl1-dev libseccomp-dev
	libcap-ng-dev fio gcc libc6-dev
	e2fsprogs python3-matplotlib) # mkfs.ext4 and the chart of scripts/perf-matrix.sh

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FERRY_WORK=${FERRY_WORK:-$REPO/.work}
TOOLS=$FERRY_WORK/tools
KDIR=$FERRY_WORK/kernel
GDIR=$FERRY_WORK/guest
mkdir -p "$FERRY_WORK" "$TOOLS" "$KDIR" "$GDIR"

step_start=0
step() {
	step_start=$SECONDS
	echo "==> $*"
}
step_done() { echo "    done in $((SECONDS - step_start))s"; }

# ---------------------------------------------------------------- (a) apt
CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
BACKPORTS=$CODENAME-backports
apt_updated=0

apt_update_once() {
	if [[ $apt_updated == 0 ]]; then
		apt-get update -q
		apt_updated=1
	fi
}

# Adds <codename>-backports with the same mirror as the first stanza of the
# existing deb822 sources file (or the first "deb" line of sources.list).
ensure_backports() {
	if grep -rqs -- "$BACKPORTS" /etc/apt/sources.list /etc/apt/sources.list.d/; then
		return
	fi
	local src=/etc/apt/sources.list.d/debian.sources
	if [[ -f $src ]]; then
		awk 'BEGIN { RS = ""; ORS = "\n" } NR == 1 { print }' "$src" |
			sed -E -e '/^#/d' -e "s/^Suites:.*/Suites: $BACKPORTS/" \
				>/etc/apt/sources.list.d/backports.sources
	elif [[ -f /etc/apt/sources.list ]]; then
		awk -v s="$BACKPORTS" '$1 == "deb" && !done { $3 = s; print; done = 1 }' \
			/etc/apt/sources.list >/etc/apt/sources.list.d/backports.list
	else
		echo "warning: no apt sources found; not adding $BACKPORTS" >&2
		return
	fi
	apt_updated=0
	apt_update_once
}

missing_packages() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
			echo "$p"
	done
}

setup_apt() {
	step "apt packages"
	if [[ ${FERRY_SKIP_APT:-0} == 1 ]]; then
		echo "    FERRY_SKIP_APT=1: skipped"
		return
	fi
	local missing
	mapfile -t missing < <(missing_packages qemu-system-x86 "${APT_PACKAGES[@]}")
	if [[ ${#missing[@]} -gt 0 ]]; then
		ensure_backports
		apt_update_once
		local qemu_from=()
		# (The policy is read whole first: `grep -q` closing the pipe early would fail the
		# pipeline under pipefail and silently pick the stable QEMU, which conflicts with a
		# backports qemu-utils already installed.)
		local policy
		policy=$(apt-cache policy qemu-system-x86)
		if grep -q -- " $BACKPORTS/" <<<"$policy"; then
			qemu_from=(-t "$BACKPORTS")
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			"${qemu_from[@]}" qemu-system-x86
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			"${APT_PACKAGES[@]}"
	fi
	qemu-system-x86_64 --version | head -n 1
	step_done
}

# ------------------------------------------------------------- (b) kernel
# Modules needed for virtio-fs when the kernel does not have them built in,
# in load order (busybox modprobe resolves dependencies from modules.dep).
KMODS=(virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci fuse virtiofs)

setup_kernel() {
	step "kernel"
	if [[ -f $KDIR/vmlinuz && -f $KDIR/config ]]; then
		echo "    cached: $(cat "$KDIR/package")"
		step_done
		return
	fi
	ensure_backports
	apt_update_once
	local pkg=linux-image-$KERNEL_PIN
	if ! apt-cache show "$pkg" >/dev/null 2>&1; then
		pkg=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb[0-9.]+-amd64$' |
			awk '{ print $1 }' | sort -V | tail -n 1)
		[[ -n $pkg ]] || { echo "error: no linux-image-6.12 amd64 package found" >&2; exit 1; }
		echo "    $KERNEL_PIN not available; using $pkg"
	fi
	local tmp
	tmp=$(mktemp -d "$FERRY_WORK/kernel-dl.XXXXXX")
	chmod 755 "$tmp" # lets apt's sandbox user write there
	(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg")
	dpkg -x "$tmp"/*.deb "$tmp/root"
	local kver config moddir
	kver=$(basename "$(ls "$tmp"/root/boot/vmlinuz-*)")
	kver=${kver#vmlinuz-}
	config=$tmp/root/boot/config-$kver
	for moddir in "$tmp/root/usr/lib/modules/$kver" "$tmp/root/lib/modules/$kver"; do
		[[ -d $moddir ]] && break
	done
	cp "$tmp/root/boot/vmlinuz-$kver" "$KDIR/vmlinuz.new"
	cp "$config" "$KDIR/config"
	echo "$kver" >"$KDIR/kver"
	rm -rf "$KDIR/modules"
	local opt need_modules=0
	for opt in CONFIG_VIRTIO_FS CONFIG_FUSE_FS CONFIG_VIRTIO_PCI; do
		if grep -q "^$opt=y" "$config"; then
			echo "    $opt=y"
		else
			echo "    $opt is not built in: packing modules"
			need_modules=1
		fi
	done
	if [[ $need_modules == 1 ]]; then
		local m f dst=$KDIR/modules/lib/modules/$kver
		mkdir -p "$dst/kernel"
		for m in "${KMODS[@]}"; do
			f=$(find "$moddir" -name "$m.ko*" | head -n 1)
			[[ -n $f ]] || continue
			case $f in
			*.xz) xz -dc "$f" >"$dst/kernel/$m.ko" ;;
			*.zst) zstd -qdc "$f" >"$dst/kernel/$m.ko" ;;
			*) cp "$f" "$dst/kernel/$m.ko" ;;
			esac
		done
		cp "$moddir/modules.builtin"* "$dst/" 2>/dev/null || true
		depmod -b "$KDIR/modules" "$kver"
	fi
	echo "$pkg" >"$KDIR/package"
	mv "$KDIR/vmlinuz.new" "$KDIR/vmlinuz"
	rm -rf "$tmp"
	echo "    $pkg ($kver)"
	step_done
}

# ------------------------------------------------------- (c) cargo install
installed_version() { # crate -> version installed under $TOOLS, or nothing
	cargo install --list --root "$TOOLS" 2>/dev/null |
		sed -n "s/^$1 v\([0-9.]*\):\$/\1/p"
}

cargo_tool() { # crate version-requirement installed-version-regex
	local crate=$1 req=$2 want=$3 have
	have=$(installed_version "$crate")
	if [[ -n $have && $have =~ $want ]]; then
		echo "    $crate $have: already installed"
		return
	fi
	local t=$SECONDS
	cargo install --locked -j 1 --root "$TOOLS" --version "$req" "$crate"
	echo "    $crate: installed in $((SECONDS - t))s"
}

setup_tools() {
	step "cargo tools (-j 1)"
	cargo_tool virtiofsd "=$VIRTIOFSD_VERSION" "^${VIRTIOFSD_VERSION//./\\.}\$"
	cargo_tool pjdfstest "=$PJDFSTEST_VERSION" "^${PJDFSTEST_VERSION//./\\.}\$"
	cargo_tool fsx "=$FSX_VERSION" "^${FSX_VERSION//./\\.}\$"
	step_done
}

# ----------------------------------------------------------- (d) smoke.c
setup_smoke() {
	step "smoke (static)"
	local src=$REPO/scripts/guest/smoke.c out=$GDIR/smoke
	if [[ ! -x $out || $src -nt $out ]]; then
		gcc -O2 -Wall -Wextra -static -o "$out.new" "$src"
		mv "$out.new" "$out"
	else
		echo "    up to date"
	fi
	step_done
}

# ---------------------------------------------------------- (e) initramfs
# Copy an executable and every library ldd lists (the loader included),
# at the same paths. Executables go in stripped.
pack_binary() { # root binary [dest-path]
	local root=$1 bin=$2 dest=${3:-$2} lib
	mkdir -p "$root$(dirname "$dest")"
	strip -o "$root$dest" "$bin" 2>/dev/null || cp -L "$bin" "$root$dest"
	chmod 755 "$root$dest"
	while read -r lib; do
		[[ -e $root$lib ]] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done < <(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' | sort -u)
}

make_cpio() { # root output
	(cd "$1" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --owner=0:0 --quiet) | gzip -6 >"$2.new"
	mv "$2.new" "$2"
}

write_etc() {
	local etc=$1/etc
	mkdir -p "$etc"
	# pjdfstest needs "nobody" and "tests", each with a group of the same gid;
	# smoke chowns to 1000:1000.
	cat >"$etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		ferry:x:1000:1000:smoke test user:/:/bin/false
		tests:x:1001:1001:pjdfstest dummy user:/:/bin/false
		nobody:x:65534:65534:nobody:/nonexistent:/bin/false
	EOF
	cat >"$etc/group" <<-'EOF'
		root:x:0:
		ferry:x:1000:
		tests:x:1001:
		nogroup:x:65534:
	EOF
	cat >"$etc/nsswitch.conf" <<-'EOF'
		passwd: files
		group: files
	EOF
	# Format: see pjdfstest.toml and README.md in the pjdfstest crate.
	# rename_ctime: Linux file systems update ctime on rename, and so does the
	# host file system behind the daemon.
	cat >"$etc/pjdfstest.toml" <<-'EOF'
		[features]
		posix_fallocate = {}
		utime_now = {}
		utimensat = {}
		rename_ctime = {}

		[settings]
		naptime = 0.01
		# The erofs tests remount /mnt read-only; that fails with EBUSY once
		# earlier tests in the same process leave files open for writing, and
		# read-only is enforced by the guest VFS, not by the daemon.
		allow_remount = false

		[dummy_auth]
		entries = [
		  ["nobody", "nogroup"],
		  ["tests", "tests"],
		]
	EOF
	cp "$REPO/scripts/guest/fsx.toml" "$etc/fsx.toml"
	cp "$REPO/scripts/guest/fsx-no-holes.toml" "$etc/fsx-no-holes.toml"
}

setup_initramfs() {
	step "initramfs"
	setup_p9_modules
	local base=$GDIR/base.cpio.gz fiocpio=$GDIR/fio.cpio.gz
	local inputs=("$REPO/scripts/guest/init" "$REPO/scripts/guest/fsx.toml"
		"$REPO/scripts/guest/fsx-no-holes.toml" "$GDIR/smoke"
		"$TOOLS/bin/pjdfstest" "$TOOLS/bin/fsx" "${BASH_SOURCE[0]}" /bin/busybox "$KDIR/vmlinuz"
		"$KDIR/p9/order")
	local f stale=0
	for f in "${inputs[@]}"; do
		[[ -f $base && ! $f -nt $base ]] || stale=1
	done
	if [[ $stale == 1 ]]; then
		local root
		root=$(mktemp -d "$FERRY_WORK/initramfs.XXXXXX")
		chmod 755 "$root" # becomes the guest's /; mktemp made it 0700
		mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,mnt,root,etc}
		chmod 1777 "$root/tmp"
		cp /bin/busybox "$root/bin/busybox"
		local applet
		while read -r applet; do
			[[ -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
		done < <(/bin/busybox --list-full)
		mknod -m 600 "$root/dev/console" c 5 1
		mknod -m 666 "$root/dev/null" c 1 3
		install -m 755 "$REPO/scripts/guest/init" "$root/init"
		install -m 755 "$GDIR/smoke" "$root/bin/smoke"
		pack_binary "$root" "$TOOLS/bin/pjdfstest" /bin/pjdfstest
		pack_binary "$root" "$TOOLS/bin/fsx" /bin/fsx
		write_etc "$root"
		if [[ -d $KDIR/modules/lib ]]; then
			cp -a "$KDIR/modules/lib" "$root/"
		fi
		mkdir -p "$root/lib/ferry-9p"
		cp "$KDIR/p9/"*.ko "$KDIR/p9/order" "$root/lib/ferry-9p/"
		make_cpio "$root" "$base"
		rm -rf "$root"
	else
		echo "    base.cpio.gz up to date"
	fi
	if [[ ! -f $fiocpio || $(command -v fio) -nt $fiocpio ]]; then
		local froot
		froot=$(mktemp -d "$FERRY_WORK/initramfs-fio.XXXXXX")
		chmod 755 "$froot"
		pack_binary "$froot" "$(command -v fio)" /usr/bin/fio
		make_cpio "$froot" "$fiocpio"
		rm -rf "$froot"
	fi
	du -h "$base" "$fiocpio" | sed 's/^/    /'
	step_done
}

# ---------------------------------------------------------------- (f) perf
# The perf suite's "volume" baseline mounts a virtio-blk ext4 disk; the Debian kernel has
# virtio_blk and ext4 as modules. ext4 and jbd2 ask the crypto API for crc32c at mount
# time (a soft dependency modules.dep does not list), so crc32c is loaded first.
BLK_MODS=(crc32c_generic crc32c-intel virtio_blk ext4)

# The guest suite's 9P mounts (scripts/vm-test.sh --daemon ferryd-9p, qemu-9p): the 9P
# client, its fd, virtio and TCP transports, and a network card for TCP to the host.
P9_MODS=(virtio_net 9pnet 9pnet_fd 9pnet_virtio 9p)

setup_blk_modules() { setup_module_set blk "ext4 disk" "${BLK_MODS[@]}"; }
setup_p9_modules() { setup_module_set p9 "9P client" "${P9_MODS[@]}"; }

# setup_module_set SET WHAT MODULE...: the modules and their dependencies from the kernel
# package, decompressed into $KDIR/SET/NAME.ko, with their load order in $KDIR/SET/order.
setup_module_set() {
	local set=$1 what=$2
	shift 2
	local kver bdir=$KDIR/$set
	kver=$(cat "$KDIR/kver")
	if [[ -f $bdir/order && $(cat "$bdir/kver" 2>/dev/null) == "$kver" ]]; then
		echo "    $what modules cached: $(paste -sd' ' "$bdir/order")"
		return
	fi
	local pkg tmp moddir
	pkg=$(cat "$KDIR/package")
	ensure_backports
	apt_update_once
	tmp=$(mktemp -d "$FERRY_WORK/kernel-dl.XXXXXX")
	chmod 755 "$tmp"
	(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg")
	dpkg -x "$tmp"/*.deb "$tmp/root"
	for moddir in "$tmp/root/usr/lib/modules/$kver" "$tmp/root/lib/modules/$kver"; do
		[[ -d $moddir ]] && break
	done
	depmod -b "${moddir%/lib/modules/$kver}" "$kver"
	rm -rf "$bdir.new"
	mkdir -p "$bdir.new"
	local m line dep i name
	local -a order=() deps=()
	local -A seen=()
	for m in "$@"; do
		line=$(grep -E "(^|/)$m\.ko[^/:]*:" "$moddir/modules.dep" || true)
		if [[ -z $line ]]; then
			if grep -qE "(^|/)$m\.ko" "$moddir/modules.builtin"; then
				echo "    $m is built in"
			else
				echo "    $m: no such module in $pkg (skipped)"
			fi
			continue
		fi
		# modules.dep lists every dependency, the one to load first last.
		read -r -a deps <<<"${line#*:}"
		for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
			dep=${deps[i]}
			[[ -n ${seen[$dep]:-} ]] || { seen[$dep]=1; order+=("$dep"); }
		done
		dep=${line%%:*}
		[[ -n ${seen[$dep]:-} ]] || { seen[$dep]=1; order+=("$dep"); }
	done
	for dep in "${order[@]}"; do
		name=$(basename "$dep")
		name=${name%%.ko*}
		case $dep in
		*.xz) xz -dc "$moddir/$dep" >"$bdir.new/$name.ko" ;;
		*.zst) zstd -qdc "$moddir/$dep" >"$bdir.new/$name.ko" ;;
		*) cp "$moddir/$dep" "$bdir.new/$name.ko" ;;
		esac
		echo "$name" >>"$bdir.new/order"
	done
	echo "$kver" >"$bdir.new/kver"
	rm -rf "$bdir"
	mv "$bdir.new" "$bdir"
	rm -rf "$tmp"
	echo "    $what modules: $(paste -sd' ' "$bdir/order")"
}

setup_perf() {
	step "perf initramfs"
	setup_blk_modules
	local src=$REPO/scripts/guest/perftool.c tool=$GDIR/ferry-perf out=$GDIR/perf.cpio.gz
	if [[ ! -x $tool || $src -nt $tool ]]; then
		gcc -O2 -Wall -Wextra -static -o "$tool.new" "$src"
		mv "$tool.new" "$tool"
	fi
	local f stale=0
	for f in "$tool" "$REPO/scripts/guest/perf.sh" "$KDIR/blk/order" "${BASH_SOURCE[0]}"; do
		[[ -f $out && ! $f -nt $out ]] || stale=1
	done
	if [[ $stale == 1 ]]; then
		local root
		root=$(mktemp -d "$FERRY_WORK/initramfs-perf.XXXXXX")
		chmod 755 "$root"
		mkdir -p "$root/bin" "$root/lib/ferry-blk"
		install -m 755 "$tool" "$root/bin/ferry-perf"
		install -m 755 "$REPO/scripts/guest/perf.sh" "$root/bin/perf-suite"
		cp "$KDIR/blk/"*.ko "$KDIR/blk/order" "$root/lib/ferry-blk/"
		make_cpio "$root" "$out"
		rm -rf "$root"
	else
		echo "    perf.cpio.gz up to date"
	fi
	du -h "$out" | sed 's/^/    /'
	step_done
}

total=$SECONDS
setup_apt
setup_kernel
setup_tools
setup_smoke
setup_initramfs
setup_perf
echo "prepare-guest: ready in $((SECONDS - total))s (FERRY_WORK=$FERRY_WORK)"
