#!/usr/bin/env bash
# Pins: `meson install` installs librawflow, rawflow.h and rawflow.pc, and a program built
# outside the tree with `cc hello.c $(pkg-config --cflags --libs rawflow)` against that
# installation runs: it prints rf_error_message(RF_ECONNRESET) and rf_buf_max(), and (as root,
# with /dev/net/tun) starts and destroys a loop on the embedded default in a namespace of its
# own.
#
# The build folder is installed as configured (prefix /usr/local) into a temporary DESTDIR
# (`meson install --destdir`, no reconfiguring); the installed rawflow.pc is then read with
# its prefix pointed at that DESTDIR (a copy with the prefix line rewritten: pkg-config's
# --define-prefix guesses wrong on Debian's multiarch libdir, and PKG_CONFIG_SYSROOT_DIR
# would move libdpdk's paths too), and the program runs with LD_LIBRARY_PATH on the installed
# library. Nothing outside the temporary folder is written, except the namespace and the EAL
# runtime folder of the --loop run, both removed on exit.
set -euo pipefail

RF_SRC=${RF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
RF_BUILD=${RF_BUILD:-$RF_SRC/build}
name=install
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rf-install.XXXXXX")
ns=rf-install-$$
prefix=rf-install-$$
npass=0 nfail=0

say() { printf '%s: %s\n' "$name" "$*"; }
pass() { npass=$((npass + 1)); say "ok: $*"; }
fail() { nfail=$((nfail + 1)); say "FAIL: $*"; }
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -e "/run/netns/$ns" ]; then
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	fi
	rm -rf -- "/var/run/dpdk/$prefix" "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

destdir=$tmp/root
if meson install -C "$RF_BUILD" --no-rebuild --quiet --destdir "$destdir" >"$tmp/install.log" 2>&1; then
	pass "meson install --destdir into $tmp/root"
else
	cat "$tmp/install.log"
	fail "meson install --destdir"
	say "$npass passed, $nfail failed"
	exit 1
fi

pc=$(find "$destdir" -name rawflow.pc | head -n 1)
lib=$(find "$destdir" -name 'librawflow.so' | head -n 1)
hdr=$(find "$destdir" -name rawflow.h | head -n 1)
if [ -n "$pc" ] && [ -n "$lib" ] && [ -n "$hdr" ]; then
	pass "installed: ${pc#"$destdir"}, ${lib#"$destdir"}, ${hdr#"$destdir"}"
else
	fail "installed rawflow.pc ('$pc'), librawflow.so ('$lib') and rawflow.h ('$hdr')"
	say "$npass passed, $nfail failed"
	exit 1
fi

mkdir -p "$tmp/pkgconfig"
sed "s|^prefix=|prefix=$destdir|" "$pc" >"$tmp/pkgconfig/rawflow.pc"
if flags=$(PKG_CONFIG_PATH=$tmp/pkgconfig pkg-config --cflags --libs rawflow 2>"$tmp/pc.err"); then
	pass "pkg-config --cflags --libs rawflow: $flags"
else
	cat "$tmp/pc.err"
	fail "pkg-config --cflags --libs rawflow"
fi

# shellcheck disable=SC2086 # the flags are words
if (cd "$tmp" && cc -std=c11 -Wall -Wextra -Werror -o hello "$RF_SRC/tests/install/hello.c" \
	$flags) >"$tmp/cc.log" 2>&1; then
	pass "cc hello.c \$(pkg-config --cflags --libs rawflow) outside the tree"
else
	cat "$tmp/cc.log"
	fail "cc hello.c \$(pkg-config --cflags --libs rawflow)"
	say "$npass passed, $nfail failed"
	exit 1
fi

libdir=$(dirname "$lib")
run_plain() {
	LD_LIBRARY_PATH=$libdir timeout 20 "$tmp/hello" >"$tmp/hello.out" 2>&1 || {
		cat "$tmp/hello.out"
		return 1
	}
	sed 's/^/  /' "$tmp/hello.out"
	grep -q '^rf_error_message(RF_ECONNRESET): connection reset by peer$' "$tmp/hello.out" &&
		grep -q '^rf_buf_max() before a loop: 0$' "$tmp/hello.out" &&
		grep -q '^rf_addr_format(rf_addr_parse("198.18.0.2")): 198.18.0.2$' "$tmp/hello.out"
}
uses_installed() {
	# the dynamic loader takes librawflow from the installation, not from the build folder
	LD_LIBRARY_PATH=$libdir ldd "$tmp/hello" | grep -E "librawflow\.so[.0-9]* => $libdir/" ||
		{ LD_LIBRARY_PATH=$libdir ldd "$tmp/hello"; return 1; }
}
if run_plain; then pass "hello runs against the installed library"; else fail "hello runs"; fi
if uses_installed; then pass "hello is linked to the installed librawflow"; else fail "hello links the installed librawflow"; fi

if [ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && ip netns add "$ns" 2>/dev/null; then
	run_loop() {
		ip netns exec "$ns" env LD_LIBRARY_PATH="$libdir" \
			RF_EAL_ARGS="--file-prefix=$prefix" timeout 30 "$tmp/hello" --loop \
			>"$tmp/loop.out" 2>&1 || { cat "$tmp/loop.out"; return 1; }
		grep -E '^(rf_buf_max|after|loop)' "$tmp/loop.out" | sed 's/^/  /'
		grep -Eq '^rf_buf_max\(\) with a loop: [1-9][0-9]*$' "$tmp/loop.out" &&
			grep -q '^loop destroyed$' "$tmp/loop.out"
	}
	if run_loop; then
		pass "hello --loop starts and destroys a loop (embedded default, namespace $ns)"
	else
		fail "hello --loop"
	fi
else
	say "not root or no /dev/net/tun or no namespaces: the --loop run is left out"
fi

say "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
