#!/usr/bin/env bash
# Builds ferryd's Debian package with cargo-deb (installed first if missing): the binary in
# /usr/libexec/ferryd (where VMMs and libvirt look for vhost-user daemons, as Debian's
# virtiofsd package puts its own), its man page, README. Prints the .deb's path.
#
#   scripts/package-deb.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! cargo deb --version >/dev/null 2>&1; then
	cargo install --locked cargo-deb
fi
cargo build --release --locked -p ferryd
target/release/ferryd --print-manpage | gzip -9n >target/release/ferryd.1.gz
cargo deb --locked -p ferryd --no-build | tail -1
