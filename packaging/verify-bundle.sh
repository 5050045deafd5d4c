#!/usr/bin/env bash
# Verify a Revisor bundle tarball BEFORE unpacking it, against a key you already trust.
# Published beside the tarball (never only inside it) and kept in every installed release.
#
#   verify-bundle.sh [--pubkey FILE] [--fingerprint sha256:HEX] [--sig FILE] [--extract DIR] TARBALL
#
# The key: --pubkey FILE (a key you pinned), else the installed release key
# (/etc/revisor/release-key.pem, or <prefix>/release-key.pem for the copy in an installed
# release of a --no-systemd install: upgrades), else, with --fingerprint only, the published
# revisor-release-key.pub.pem beside the tarball. --fingerprint is compared against the key used
# (sha256 of its DER form). With no pin at all it refuses.
# Then, in this order: the Ed25519 signature (TARBALL.sig, raw 64 bytes) over the tarball's
# `sha256sum` line, "<sha256>  <file name>" (openssl pkeyutl -verify -rawin; OpenSSL 3.0 cannot
# verify over a file of more than 2 GB, as the GPU pack is); the member list: one top directory
# revisor-<version> with a strict version, only regular files and directories, no absolute
# path, no `.` or `..` component, no link, device or duplicate. --extract DIR then unpacks it into DIR
# (tar --no-same-owner --no-same-permissions) and prints the unpacked directory.
# Exit status: 0 verified, 1 refused, 2 usage.
set -euo pipefail
umask 022

PUBKEY=""
FINGERPRINT=""
SIG=""
EXTRACT=""
# The installed release key: <prefix>/release-key.pem when this is an installed release's copy
# (<prefix>/releases/<version>/verify-bundle.sh) of a --no-systemd install, else /etc/revisor's.
INSTALLED_KEY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../release-key.pem"
[ -f "$INSTALLED_KEY" ] || INSTALLED_KEY=/etc/revisor/release-key.pem
INSTALLED_KEY="${REVISOR_INSTALLED_KEY:-$INSTALLED_KEY}"
VERSION_RE='^[0-9]+\.[0-9]+\.[0-9]+([.-][A-Za-z0-9]+)*$'
PATH_RE='^[A-Za-z0-9_@+=,.][A-Za-z0-9_@+=,.-]*(/[A-Za-z0-9_@+=,.][A-Za-z0-9_@+=,.-]*)*/?$'

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "verify-bundle.sh: REFUSED: $*" >&2; exit 1; }

TARBALL=""
while [ $# -gt 0 ]; do
    case "$1" in
        --pubkey) PUBKEY="$2"; shift 2 ;;
        --fingerprint) FINGERPRINT="$2"; shift 2 ;;
        --sig) SIG="$2"; shift 2 ;;
        --extract) EXTRACT="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "verify-bundle.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) [ -z "$TARBALL" ] || { echo "verify-bundle.sh: one tarball only" >&2; exit 2; }
           TARBALL="$1"; shift ;;
    esac
done
[ -n "$TARBALL" ] || { usage >&2; exit 2; }
[ -f "$TARBALL" ] || die "no such file: $TARBALL"
SIG="${SIG:-$TARBALL.sig}"
[ -f "$SIG" ] || die "no detached signature $SIG (published beside the tarball)"
command -v openssl >/dev/null || die "openssl (3.0 or newer) is needed"

fingerprint() { openssl pkey -pubin -in "$1" -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1; }
normalise_fp() {  # sha256:HEX, SHA256:HEX or HEX, any case -> hex; else empty
    local fp="${1#sha256:}"
    fp="${fp#SHA256:}"
    fp="$(printf '%s' "$fp" | tr 'A-F' 'a-f')"
    [[ "$fp" =~ ^[0-9a-f]{64}$ ]] && printf '%s' "$fp"
}

KEY=""
if [ -n "$PUBKEY" ]; then
    KEY="$PUBKEY"
elif [ -f "$INSTALLED_KEY" ]; then
    KEY="$INSTALLED_KEY"
elif [ -n "$FINGERPRINT" ]; then
    KEY="$(dirname "$TARBALL")/revisor-release-key.pub.pem"
fi
[ -n "$KEY" ] || die "no pinned key: pass --pubkey FILE or --fingerprint sha256:HEX"
[ -f "$KEY" ] || die "no public key file $KEY"
FP="$(fingerprint "$KEY")" || die "$KEY is not a public key (PEM)"
if [ -n "$FINGERPRINT" ]; then
    want="$(normalise_fp "$FINGERPRINT")" || true
    [ -n "$want" ] || die "--fingerprint must be sha256:<64 hex digits>"
    [ "$FP" = "$want" ] || die "key $KEY has fingerprint sha256:$FP, not the pinned sha256:$want"
fi

# One open file for every step: replacing the path after the check changes nothing here.
exec 3<"$TARBALL"
T=/dev/fd/3
SIGNED="$(mktemp)"
trap 'rm -f "$SIGNED"' EXIT
printf '%s  %s\n' "$(sha256sum < "$T" | cut -c1-64)" "$(basename "$TARBALL")" > "$SIGNED"
openssl pkeyutl -verify -pubin -inkey "$KEY" -rawin -in "$SIGNED" -sigfile "$SIG" >/dev/null 2>&1 \
    || die "BAD SIGNATURE: $TARBALL (under this name) is not signed by key sha256:$FP"

names="$(tar --quoting-style=escape -tzf "$T")" || die "$TARBALL is not a readable tar.gz"
types="$(tar --quoting-style=escape -tvzf "$T" | cut -c1 | LC_ALL=C sort -u | tr -d '\n')" \
    || die "$TARBALL is not a readable tar.gz"
[[ "$types" =~ ^[-d]+$ ]] || die "members other than files and directories (types: $types)"
first="${names%%$'\n'*}"
top="${first%%/*}"
version="${top#revisor-}"
[ "$top" = "revisor-$version" ] && [[ "$version" =~ $VERSION_RE ]] && [ ${#version} -le 64 ] \
    || die "top directory '$top' is not revisor-<version>"
while IFS= read -r name; do
    [[ "$name" =~ $PATH_RE ]] || die "member name refused: $name"
    [[ "/$name/" != *"/../"* && "/$name/" != *"/./"* ]] || die "member name refused: $name"
    [ "$name" = "$top/" ] || [ "$name" = "$top" ] || [[ "$name" == "$top/"* ]] \
        || die "member outside $top/: $name"
done <<<"$names"
dupes="$(printf '%s\n' "$names" | sed 's|/$||' | LC_ALL=C sort | uniq -d | head -3)"
[ -z "$dupes" ] || die "duplicate members: $dupes"
echo "verified: $(basename "$TARBALL") is $top, signed by key sha256:$FP" >&2

if [ -n "$EXTRACT" ]; then
    mkdir -p "$EXTRACT"
    [ ! -e "$EXTRACT/$top" ] || die "$EXTRACT/$top already exists; remove it first"
    tar --no-same-owner --no-same-permissions --no-overwrite-dir -xzf "$T" -C "$EXTRACT"
    echo "$(cd "$EXTRACT/$top" && pwd)"
fi
