#!/usr/bin/env bash
# Build a QEMU whose vhost-user devices have the virtio shared-memory window (the DAX cache
# window: GET_SHMEM_CONFIG, SHMEM_MAP, SHMEM_UNMAP; QEMU 11.1 and later), for the guest suite's
# DAX runs. Only what ferry's guest suite uses is configured: x86_64-softmmu, TCG and KVM,
# vhost-user, slirp (user networking) and virtfs (QEMU's own virtio-9p, the 9P runs' yardstick),
# no docs, no downloads.
#
#   scripts/build-qemu.sh [--rev REV] [--keycodemapdb DIR] [--check] SOURCE
#
# SOURCE is a QEMU source tree, or a git directory (bare or not: a `fetch` snapshot such as
# /work/.mirror/<owner>+qemu-ci/repo) with --rev naming the commit or branch to build.
# QEMU vendors meson; the one subproject system emulation downloads is keycodemapdb: when the
# source lacks subprojects/keycodemapdb, --keycodemapdb gives a tree or git directory of it.
# ferry's own patches (scripts/qemu/*.patch, applied in name order) are applied to the source;
# see scripts/qemu/README.md for what each one does and why.
#
# The result is cached outside the clone, in $FERRY_QEMU_CACHE (default ~/.cache/ferry/qemu),
# one directory per (source, patches, this script): a later run with the same inputs reuses
# it. The last line of output is the path of qemu-system-x86_64; scripts/vm-test.sh and
# scripts/perf-matrix.sh take it with --qemu PATH (or FERRY_QEMU=PATH). --check only prints
# the path of a cached build (exit 1 if there is none). A distribution's QEMU 11.1 or later
# needs none of this: pass its qemu-system-x86_64 instead.
#
# Needs: gcc, ninja-build, pkg-config, libglib2.0-dev, libpixman-1-dev, libslirp-dev,
# libcap-ng-dev, libattr1-dev, flex, bison, python3-venv (installed with apt-get unless
# FERRY_SKIP_APT=1).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${FERRY_QEMU_CACHE:-${HOME:-/root}/.cache/ferry/qemu}
PATCHES=$REPO/scripts/qemu
APT_PACKAGES=(gcc ninja-build pkg-config libglib2.0-dev libpixman-1-dev libslirp-dev libcap-ng-dev libattr1-dev flex
	bison python3-venv)
CONFIGURE=(--target-list=x86_64-softmmu --disable-docs --disable-download --enable-tcg
	--enable-kvm --disable-werror --disable-fdt --disable-rust --without-default-features
	--enable-vhost-user --enable-slirp --enable-virtfs --enable-attr)

rev=
kcm=
check=
usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}
while (($#)); do
	case $1 in
	--rev) rev=$2 && shift 2 ;;
	--keycodemapdb) kcm=$2 && shift 2 ;;
	--check) check=1 && shift ;;
	-h | --help) usage ;;
	-*) echo "build-qemu: unknown option $1" >&2 && usage 2 >&2 ;;
	*) break ;;
	esac
done
(($# == 1)) || usage 2 >&2
src_in=$(cd "$1" && pwd)

is_git() { git -C "$1" rev-parse --git-dir >/dev/null 2>&1; }
# A plain source tree, or a git directory and a revision.
if [[ -f $src_in/VERSION && -f $src_in/configure ]]; then
	src_id=$(cat "$src_in/VERSION")-$( (cd "$src_in" && find . -path ./build -prune -o -type f \
		-printf '%P %s %T@\n' | sort | sha256sum | cut -c1-16))
elif is_git "$src_in"; then
	[[ -n $rev ]] || { echo "build-qemu: $src_in is a git directory: give --rev" >&2 && exit 2; }
	tree=$(git -C "$src_in" rev-parse --verify "$rev^{tree}")
	src_id=$(git -C "$src_in" show "$rev:VERSION")-${tree:0:16}
else
	echo "build-qemu: $src_in is neither a QEMU source tree nor a git directory" >&2
	exit 2
fi
# The cache key: the source, ferry's patches, and how this script configures.
key=$( { echo "$src_id"; cat "$PATCHES"/*.patch 2>/dev/null; cat "${BASH_SOURCE[0]}"; } |
	sha256sum | cut -c1-12)
out=$CACHE/$src_id-$key
bin=$out/bin/qemu-system-x86_64
if [[ -x $bin ]]; then
	echo "build-qemu: cached build in $out"
	echo "$bin"
	exit 0
fi
[[ -z $check ]] || { echo "build-qemu: no cached build for $src_id ($out)" >&2 && exit 1; }

start=$SECONDS
if [[ ${FERRY_SKIP_APT:-0} != 1 ]]; then
	missing=()
	for p in "${APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	if ((${#missing[@]})); then
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
	fi
fi

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/src
mkdir -p "$src"
if [[ -f $src_in/VERSION && -f $src_in/configure ]]; then
	cp -a "$src_in/." "$src/"
	rm -rf "$src/build"
else
	git -C "$src_in" archive --format=tar "$rev" | tar -x -C "$src"
fi

# keycodemapdb: the one subproject system emulation needs (a git submodule upstream).
if [[ ! -f $src/subprojects/keycodemapdb/meson.build ]]; then
	[[ -n $kcm ]] || {
		echo "build-qemu: the source has no subprojects/keycodemapdb: give --keycodemapdb DIR" >&2
		exit 2
	}
	rm -rf "$src/subprojects/keycodemapdb"
	mkdir -p "$src/subprojects/keycodemapdb"
	if [[ -f $kcm/meson.build ]]; then
		cp -a "$kcm/." "$src/subprojects/keycodemapdb/"
	elif is_git "$kcm"; then
		git -C "$kcm" archive --format=tar HEAD | tar -x -C "$src/subprojects/keycodemapdb"
	else
		echo "build-qemu: $kcm is not keycodemapdb" >&2
		exit 2
	fi
fi
# The softfloat test programs (tests/fp) need berkeley-testfloat-3, a download: not built.
if [[ ! -d $src/subprojects/berkeley-testfloat-3 ]]; then
	sed -i "s/^\(\s*\)subdir('fp')/\1# subdir('fp') (ferry: berkeley-testfloat-3 is a download)/" \
		"$src/tests/meson.build"
fi
# Drafts of the shared-memory series numbered its protocol feature 20 (or 21); merged, it is 22,
# which is what ferryd and the vhost crate speak.
hdr=$src/include/hw/virtio/vhost-user.h
if grep -Eq 'VHOST_USER_PROTOCOL_F_SHMEM = 2[01],' "$hdr"; then
	echo "build-qemu: a draft of the SHMEM series: its feature bit set to 22, as merged"
	sed -Ei 's/(VHOST_USER_PROTOCOL_F_SHMEM = )2[01],/\122,/' "$hdr"
fi
grep -q 'VHOST_USER_PROTOCOL_F_SHMEM = 22' "$hdr" || {
	echo "build-qemu: this QEMU has no VHOST_USER_PROTOCOL_F_SHMEM (11.1 or a tree with the series)" >&2
	exit 2
}
for p in "$PATCHES"/*.patch; do
	[[ -e $p ]] || continue
	echo "build-qemu: applying ${p#"$REPO"/}"
	patch -d "$src" -p1 --forward --quiet <"$p"
done

mkdir -p "$src/build"
(cd "$src/build" && ../configure --prefix="$out" --python=/usr/bin/python3 "${CONFIGURE[@]}")
ninja -C "$src/build" -j "$(nproc)"
rm -rf "$out"
ninja -C "$src/build" install >/dev/null
"$bin" --version | head -n 1
echo "build-qemu: built in $((SECONDS - start)) s into $out"
echo "$bin"
