#!/usr/bin/env bash
# The house rules, enforced: rustfmt, clippy with every warning an error (the lints in the
# root Cargo.toml's [workspace.lints] included), and rustdoc without warnings.
#
#   scripts/lint.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for c in clippy rustfmt; do
	if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
		rustup component add "$c"
	fi
done
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets --release -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps
# The fuzzers are a workspace of their own (cargo-fuzz): they must still compile against the
# library, which the CI's fuzz smoke would otherwise find last.
cargo check --manifest-path fuzz/Cargo.toml --all-targets
echo "lint: rustfmt, clippy and rustdoc clean"
