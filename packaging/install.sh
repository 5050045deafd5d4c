#!/usr/bin/env bash
# Revisor offline installer. Run it from the unpacked bundle:
#
#   tar xzf revisor-<version>-linux-x86_64.tar.gz && cd revisor-<version>
#   sudo ./install.sh [--prefix /opt/revisor] [--pubkey FILE] [--allow-net CIDR]...
#
# 1. Verifies the bundle FIRST: the Ed25519 signature over SHA256SUMS (openssl), then every
#    file's sha256, and refuses files that SHA256SUMS does not list. Nothing is installed from
#    a bundle that fails; pass --pubkey (or REVISOR_BUNDLE_PUBKEY) to pin the signing key.
# 2. Creates <prefix>/releases/<version>/venv with
#    `pip install --no-index --require-hashes` from the bundled wheelhouse (no network).
# 3. As root with systemd: the `revisor` system user (sysusers.d), its directories
#    (tmpfiles.d), /etc/revisor/revisor.toml, the systemd units; `revisor init` (creates keys,
#    applies migrations); switches <prefix>/current; (re)starts the services.
#    Otherwise (or with --no-systemd): data dir <prefix>/data, and it prints how to start.
# Upgrades keep the data dir (a backup is taken before migrations) and the previous release:
#   <prefix>/current/install.sh --rollback      switches back and restarts
set -euo pipefail
umask 022

PREFIX=/opt/revisor
DATA_DIR=""
PUBKEY="${REVISOR_BUNDLE_PUBKEY:-}"
SYSTEMD=auto
START=1
ROLLBACK=0
ALLOW_NETS=()
PYTHON="${PYTHON:-python3}"

usage() {
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'
Options:
  --prefix DIR       install under DIR (default /opt/revisor)
  --data-dir DIR     data directory (default /var/lib/revisor as root with systemd, else PREFIX/data)
  --pubkey FILE      refuse the bundle unless it is signed by this public key (PEM)
  --allow-net CIDR   address range the services may talk to besides localhost: Git servers,
                     LDAP, model hosts, users' browsers (repeatable; default: this host's networks)
  --no-systemd       install without system users, units or services (also for tests)
  --no-start         install and enable the units but do not start them (OS image builds)
  --rollback         switch <prefix>/current back to the previous release and restart
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX="$2"; shift 2 ;;
        --data-dir) DATA_DIR="$2"; shift 2 ;;
        --pubkey) PUBKEY="$2"; shift 2 ;;
        --allow-net) ALLOW_NETS+=("$2"); shift 2 ;;
        --no-systemd) SYSTEMD=no; shift ;;
        --no-start) START=0; shift ;;
        --rollback) ROLLBACK=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "==> $*"; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ "$PREFIX" = "${PREFIX#/}" ] && PREFIX="$(pwd)/$PREFIX"

if [ "$SYSTEMD" = auto ]; then
    if [ "$(id -u)" = 0 ] && command -v systemctl >/dev/null; then SYSTEMD=yes; else SYSTEMD=no; fi
fi
# systemd is the init system only if this directory exists; in a chroot (image build) it does not.
RUNNING_SYSTEMD=0
[ -d /run/systemd/system ] && RUNNING_SYSTEMD=1
if [ -z "$DATA_DIR" ]; then
    if [ "$SYSTEMD" = yes ]; then DATA_DIR=/var/lib/revisor; else DATA_DIR="$PREFIX/data"; fi
fi
UNITS=(revisor-signer.service revisor-sidecar.service revisor-worker.service revisor-web.service)

as_revisor() {
    if [ "$SYSTEMD" = yes ]; then runuser -u revisor -- "$@"; else "$@"; fi
}

services() {  # services start|stop|restart
    [ "$SYSTEMD" = yes ] && [ "$RUNNING_SYSTEMD" = 1 ] || return 0
    systemctl "$1" "${UNITS[@]}"
}

# --- rollback -------------------------------------------------------------------------------
if [ "$ROLLBACK" = 1 ]; then
    [ -L "$PREFIX/previous" ] || die "no previous release recorded in $PREFIX/previous"
    prev="$(readlink "$PREFIX/previous")"
    cur="$(readlink "$PREFIX/current")"
    say "rolling back from $(basename "$cur") to $(basename "$prev")"
    services stop
    ln -sfn "$prev" "$PREFIX/current.new" && mv -Tf "$PREFIX/current.new" "$PREFIX/current"
    ln -sfn "$cur" "$PREFIX/previous.new" && mv -Tf "$PREFIX/previous.new" "$PREFIX/previous"
    services start
    say "current is $(basename "$prev"). The data dir is unchanged; if the newer release"
    say "migrated it, restore the pre-upgrade backup in $DATA_DIR/backups (docs/install.md)."
    exit 0
fi

# --- 1. verify ------------------------------------------------------------------------------
cd "$HERE"
for f in SHA256SUMS SHA256SUMS.sig bundle_ed25519.pub.pem VERSION requirements.lock; do
    [ -f "$f" ] || die "$f is missing: this is not a complete Revisor bundle; refusing it"
done
command -v openssl >/dev/null || die "openssl (3.0 or newer) is needed to verify the bundle"
if ! openssl pkeyutl -verify -pubin -inkey bundle_ed25519.pub.pem -rawin \
        -in SHA256SUMS -sigfile SHA256SUMS.sig >/dev/null 2>&1; then
    die "BAD SIGNATURE: SHA256SUMS is not signed by bundle_ed25519.pub.pem; refusing this bundle"
fi
fingerprint() { openssl pkey -pubin -in "$1" -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1; }
FP="$(fingerprint bundle_ed25519.pub.pem)"
if [ -n "$PUBKEY" ]; then
    [ "$(fingerprint "$PUBKEY")" = "$FP" ] \
        || die "the bundle is signed by key sha256:$FP, not by $PUBKEY; refusing it"
fi
if ! sha256sum --check --strict --quiet SHA256SUMS; then
    die "CHECKSUM MISMATCH: the files above differ from SHA256SUMS; refusing this bundle"
fi
extra="$(comm -23 \
    <(find . -type f ! -name SHA256SUMS ! -name SHA256SUMS.sig ! -name bundle_ed25519.pub.pem \
        -printf '%P\n' | LC_ALL=C sort) \
    <(sed 's/^[0-9a-f]*  //' SHA256SUMS | LC_ALL=C sort))"
[ -z "$extra" ] || die "files not listed in SHA256SUMS: $extra; refusing this bundle"
VERSION="$(cat VERSION)"
say "bundle revisor $VERSION verified (signing key sha256:$FP)"
[ -n "$PUBKEY" ] || say "pin that key next time: --pubkey FILE (docs/install.md, 'Verify')"

# --- 2. the release's virtual environment ------------------------------------------------------
"$PYTHON" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null \
    || die "$PYTHON must be Python 3.11 with the venv module (Debian: apt install python3-venv)"
RELEASE="$PREFIX/releases/$VERSION"
if [ -L "$PREFIX/current" ] && [ "$(readlink -f "$PREFIX/current")" = "$(readlink -f "$RELEASE")" ]; then
    say "revisor $VERSION is already the current release; reinstalling it"
fi
mkdir -p "$PREFIX/releases"
rm -rf "$RELEASE.partial"
START_TS=$(date +%s)
say "creating $RELEASE (pip, offline, hashes required)"
"$PYTHON" -m venv "$RELEASE.partial/venv"
# This machine's pip settings (index URLs, constraints) must not change what gets installed.
env -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_FIND_LINKS -u PIP_CONSTRAINT \
    PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$RELEASE.partial/venv/bin/pip" install --quiet --no-index --no-cache-dir \
    --find-links wheelhouse --require-hashes -r requirements.lock
env PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$RELEASE.partial/venv/bin/pip" install --quiet --no-index --no-cache-dir --no-deps \
    --find-links models --require-hashes -r models/requirements.lock
cp -r appliance docs install.sh VERSION SHA256SUMS SHA256SUMS.sig bundle_ed25519.pub.pem \
    "$RELEASE.partial/"
# A venv is not relocatable (absolute paths in its scripts): fix them for the final name.
grep -rlF "$RELEASE.partial" "$RELEASE.partial/venv/bin" | while read -r f; do
    sed -i "s|$RELEASE.partial|$RELEASE|g" "$f"
done
if [ "$(readlink -f "$PREFIX/current" 2>/dev/null)" = "$(readlink -f "$RELEASE")" ]; then
    services stop  # the running release is about to be replaced in place
fi
rm -rf "$RELEASE"
mv "$RELEASE.partial" "$RELEASE"
REVISOR="$RELEASE/venv/bin/revisor"
"$REVISOR" --version >/dev/null || die "the new release does not start: $REVISOR --version"
say "release installed in $(( $(date +%s) - START_TS )) s"

# --- 3. system integration ----------------------------------------------------------------------
if [ "$SYSTEMD" = yes ]; then
    say "system user, directories and units"
    install -D -m 0644 appliance/sysusers.d/revisor.conf /etc/sysusers.d/revisor.conf
    install -D -m 0644 appliance/tmpfiles.d/revisor.conf /etc/tmpfiles.d/revisor.conf
    systemd-sysusers /etc/sysusers.d/revisor.conf
    if [ "$DATA_DIR" != /var/lib/revisor ]; then
        sed -i "s|/var/lib/revisor|$DATA_DIR|g" /etc/tmpfiles.d/revisor.conf
    fi
    systemd-tmpfiles --create /etc/tmpfiles.d/revisor.conf
    # The audit signing key belongs to revisor-signer alone (docs/audit.md, "The signer"): an
    # upgrade moves the existing key there, so the fingerprint auditors pinned stays the same.
    install -d -o revisor-signer -g revisor -m 0700 /var/lib/revisor-signer
    if [ -f "$DATA_DIR/keys/audit_ed25519.pem" ] && [ ! -e /var/lib/revisor-signer/audit_ed25519.pem ]; then
        install -o revisor-signer -g revisor -m 0600 "$DATA_DIR/keys/audit_ed25519.pem" /var/lib/revisor-signer/
        rm -f "$DATA_DIR/keys/audit_ed25519.pem"
    fi
    if [ ! -e /etc/revisor/revisor.toml ]; then
        install -m 0640 -g revisor appliance/revisor.toml /etc/revisor/revisor.toml
    fi
    [ -e "$DATA_DIR/revisor.toml" ] || ln -s /etc/revisor/revisor.toml "$DATA_DIR/revisor.toml"
    if ! grep -q '^signer_socket' /etc/revisor/revisor.toml; then  # an older config: use the signer
        if grep -q '^\[audit\]' /etc/revisor/revisor.toml; then
            sed -i '/^\[audit\]/a signer_socket = "/run/revisor-signer/signer.sock"' /etc/revisor/revisor.toml
        else
            printf '\n[audit]\nsigner_socket = "/run/revisor-signer/signer.sock"\n' >> /etc/revisor/revisor.toml
        fi
    fi
    if [ ${#ALLOW_NETS[@]} -eq 0 ]; then
        # Default: the networks this host sits on. Git servers elsewhere need --allow-net.
        mapfile -t ALLOW_NETS < <(ip -o addr show scope global 2>/dev/null \
            | awk '{print $4}' | while read -r a; do
                python3 -c "import ipaddress,sys; print(ipaddress.ip_interface(sys.argv[1]).network)" "$a"
              done | sort -u)
    fi
    for unit in "${UNITS[@]}" revisor-sidecar-vllm.service; do
        sed -e "s|/opt/revisor|$PREFIX|g" -e "s|/var/lib/revisor|$DATA_DIR|g" \
            "appliance/$unit" > "/etc/systemd/system/$unit"
        chmod 0644 "/etc/systemd/system/$unit"
    done
    for unit in revisor-web.service revisor-worker.service; do
        mkdir -p "/etc/systemd/system/$unit.d"
        {
            echo "# Written by install.sh: where this service may connect or be reached from."
            echo "# Change it with install.sh --allow-net CIDR, or edit and: systemctl daemon-reload"
            echo "[Service]"
            [ ${#ALLOW_NETS[@]} -gt 0 ] && echo "IPAddressAllow=${ALLOW_NETS[*]}"
        } > "/etc/systemd/system/$unit.d/10-allow-net.conf"
    done
    say "services may reach: localhost ${ALLOW_NETS[*]:-(nothing else: pass --allow-net)}"
fi

# --- 4. data dir, backup before migrating, switch, start --------------------------------------
if [ -L "$PREFIX/current" ] && [ -f "$DATA_DIR/revisor.db" ]; then
    OLD="$(readlink "$PREFIX/current")"
    services stop
    stamp="$(date +%Y%m%d-%H%M%S)"
    as_revisor mkdir -p -m 0700 "$DATA_DIR/backups"
    say "backing up the data before migrating: $DATA_DIR/backups/pre-$VERSION-$stamp.tar.gz"
    as_revisor "$OLD/venv/bin/revisor" backup --data-dir "$DATA_DIR" \
        --out "$DATA_DIR/backups/pre-$VERSION-$stamp.tar.gz" >/dev/null
    if [ "$(readlink -f "$OLD")" != "$(readlink -f "$RELEASE")" ]; then
        ln -sfn "$(readlink -f "$OLD")" "$PREFIX/previous.new"
        mv -Tf "$PREFIX/previous.new" "$PREFIX/previous"
    fi
fi
ln -sfn "$RELEASE" "$PREFIX/current.new"
mv -Tf "$PREFIX/current.new" "$PREFIX/current"
say "revisor init (creates what is missing, applies migrations)"
as_revisor "$PREFIX/current/venv/bin/revisor" init --data-dir "$DATA_DIR" >/dev/null

if [ "$SYSTEMD" = yes ]; then
    if [ "$RUNNING_SYSTEMD" = 1 ]; then systemctl daemon-reload; fi
    systemctl enable "${UNITS[@]}" >/dev/null 2>&1 || systemctl enable "${UNITS[@]}"
    if [ "$START" = 1 ] && [ "$RUNNING_SYSTEMD" = 1 ]; then
        services restart
        say "started: ${UNITS[*]}"
        say "check: sudo -u revisor $PREFIX/current/venv/bin/revisor doctor --data-dir $DATA_DIR"
    else
        say "units enabled; they start at the next boot (or: systemctl start ${UNITS[*]})"
    fi
else
    cat <<EOF
==> installed revisor $VERSION in $PREFIX/current (data: $DATA_DIR)
    No systemd services were set up (not root, no systemd, or --no-systemd). To run it:
      $PREFIX/current/venv/bin/revisor up --data-dir $DATA_DIR
    or each part on its own:
      $PREFIX/current/venv/bin/revisor inference --data-dir $DATA_DIR   # model sidecar
      $PREFIX/current/venv/bin/revisor worker --data-dir $DATA_DIR
      $PREFIX/current/venv/bin/revisor serve --data-dir $DATA_DIR
    Then check it: $PREFIX/current/venv/bin/revisor doctor --data-dir $DATA_DIR
EOF
fi
