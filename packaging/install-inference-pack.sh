#!/usr/bin/env bash
# Install Revisor's GPU inference pack (revisor-<version>-gpu-linux-x86_64.tar.gz, built by
# `make inference-pack`) with no network. Run the copy an installed release keeps:
#
#   sudo /opt/revisor/current/install-inference-pack.sh revisor-0.1.0-gpu-linux-x86_64.tar.gz
#
# 1. Verifies the tarball FIRST with the release's own verify-bundle.sh (beside this script):
#    the Ed25519 signature over the tarball's sha256 (TARBALL.sig) by the key this installation
#    trusts (the installed release key, or --pubkey/--fingerprint as for install.sh), and every
#    member name; it then unpacks into a private directory (0700) and checks SHA256SUMS there.
# 2. llama.cpp on the GPU: the CUDA build of llama-cpp-python replaces the CPU one in the
#    appliance venv (<prefix>/current/venv): `pip install --no-index --require-hashes --no-deps`.
#    With systemd (as root): the drop-in revisor-sidecar.service.d/20-gpu.conf gives the
#    llama.cpp sidecar the NVIDIA devices; the sidecar is restarted if it runs.
# 3. vLLM: a new venv <prefix>/vllm-venv from the pack's hashed wheelhouse (vLLM and its CUDA
#    torch), `pip install --no-index --require-hashes`; the previous one is replaced only once
#    the new one imports.
# The CUDA wheel is kept in <prefix>/inference-pack: install.sh puts it into the venv of every
# later release that pins the same llama-cpp-python version (else it warns: build a new pack).
set -euo pipefail
umask 022

PREFIX=/opt/revisor
VENV=""
VLLM_VENV=""
SYSTEMD_DIR=/etc/systemd/system
SYSTEMD=auto
PARTS=(llama vllm)
VERIFY_ARGS=()
PYTHON="${PYTHON:-python3}"

usage() {
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'
Options:
  --prefix DIR        Revisor's install prefix (default /opt/revisor)
  --venv DIR          the appliance venv (default PREFIX/current/venv)
  --vllm-venv DIR     where vLLM goes (default PREFIX/vllm-venv)
  --pubkey FILE       verify with this release key instead of the installed one
  --fingerprint FP    sha256:HEX the key must have
  --only llama|vllm   install one part only
  --no-systemd        no drop-in, no restart (also for tests)
  --systemd-dir DIR   where the drop-in goes (default /etc/systemd/system)
EOF
}

TARBALL=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX="$2"; shift 2 ;;
        --venv) VENV="$2"; shift 2 ;;
        --vllm-venv) VLLM_VENV="$2"; shift 2 ;;
        --pubkey|--fingerprint) VERIFY_ARGS+=("$1" "$2"); shift 2 ;;
        --only) [[ "$2" =~ ^(llama|vllm)$ ]] || { echo "--only llama or vllm" >&2; exit 2; }
                PARTS=("$2"); shift 2 ;;
        --no-systemd) SYSTEMD=no; shift ;;
        --systemd-dir) SYSTEMD_DIR="$2"; SYSTEMD=yes; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "install-inference-pack.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) [ -z "$TARBALL" ] || { echo "one tarball only" >&2; exit 2; }
           TARBALL="$1"; shift ;;
    esac
done
[ -n "$TARBALL" ] || { usage >&2; exit 2; }

die() { echo "install-inference-pack.sh: $*" >&2; exit 1; }
say() { echo "==> $*"; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VENV:-$PREFIX/current/venv}"
VLLM_VENV="${VLLM_VENV:-$PREFIX/vllm-venv}"
KEEP="$PREFIX/inference-pack"
if [ "$SYSTEMD" = auto ]; then
    if [ "$(id -u)" = 0 ] && [ -d /run/systemd/system ]; then SYSTEMD=yes; else SYSTEMD=no; fi
fi
[ -x "$HERE/verify-bundle.sh" ] || die "verify-bundle.sh is not beside this script ($HERE)"
wants() { [[ " ${PARTS[*]} " == *" $1 "* ]]; }
if wants llama && [ ! -x "$VENV/bin/pip" ]; then
    die "no appliance venv at $VENV (install Revisor first, or --venv DIR)"
fi
if wants vllm; then  # the wheelhouse is built for the appliance's Python
    "$PYTHON" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null \
        || die "$PYTHON must be Python 3.11 with the venv module (Debian: apt install python3-venv)"
fi

# --- 1. verify, then unpack into a private directory ------------------------------------------
STAGING="$(mktemp -d "${TMPDIR:-/var/tmp}/revisor-pack.XXXXXX")"
trap 'rm -rf "$STAGING"' EXIT
TOP="$("$HERE/verify-bundle.sh" ${VERIFY_ARGS[@]+"${VERIFY_ARGS[@]}"} --extract "$STAGING" "$TARBALL")" \
    || die "the pack was refused (see above); nothing was installed"
cd "$TOP"
[ -f PACK ] && [ -f SHA256SUMS ] || die "$(basename "$TOP") is not an inference pack (no PACK file)"
sha256sum --check --strict --quiet SHA256SUMS || die "CHECKSUM MISMATCH inside the pack"
extra="$(comm -23 \
    <(find . -type f ! -name SHA256SUMS ! -name SHA256SUMS.sig -printf '%P\n' | LC_ALL=C sort) \
    <(sed 's/^[0-9a-f]*  //' SHA256SUMS | LC_ALL=C sort))"
[ -z "$extra" ] || die "files not listed in SHA256SUMS: $extra"
say "pack verified: $(head -n 1 PACK)"

pip_offline() {  # pip_offline PIP ARGS...: this machine's pip settings must not change anything
    local pip="$1"; shift
    env -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_FIND_LINKS -u PIP_CONSTRAINT \
        PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$pip" install --quiet --no-index --no-cache-dir --require-hashes "$@"
}

# --- 2. llama.cpp: the CUDA build into the appliance venv ---------------------------------------
if wants llama; then
    # The pack is built per release: the same llama-cpp-python version as the release pins.
    have="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' \
        2>/dev/null || true)"
    want="$(grep -o '^llama-cpp-python==[^ ]*' llama/requirements.lock | cut -d= -f3)"
    [ -z "$have" ] || [ "$have" = "$want" ] \
        || die "this pack holds llama-cpp-python $want, the installed release has $have: install the pack built for this release"
    say "llama-cpp-python (CUDA) into $VENV"
    pip_offline "$VENV/bin/pip" --no-deps --force-reinstall --find-links llama \
        -r llama/requirements.lock
    # Kept for install.sh: an upgrade puts the GPU build into the new release's venv too.
    rm -rf "$KEEP.new"
    mkdir -p "$KEEP.new/llama"
    cp llama/*.whl llama/requirements.lock "$KEEP.new/llama/"
    cp PACK "$KEEP.new/"
    rm -rf "$KEEP"
    mv "$KEEP.new" "$KEEP"
    if [ "$SYSTEMD" = yes ]; then
        dropin="$SYSTEMD_DIR/revisor-sidecar.service.d/20-gpu.conf"
        install -D -m 0644 "$HERE/appliance/revisor-sidecar.service.d/20-gpu.conf" "$dropin"
        say "the llama.cpp sidecar may use the GPU: $dropin"
        if [ -d /run/systemd/system ] && [ "$SYSTEMD_DIR" = /etc/systemd/system ]; then
            systemctl daemon-reload
            systemctl try-restart revisor-sidecar.service
        fi
    fi
fi

# --- 3. vLLM: a fresh venv, swapped in once it imports -------------------------------------------
if wants vllm && [ ! -f vllm/requirements.lock ]; then
    say "this pack has no vLLM (built with NO_VLLM=1): $VLLM_VENV left as it is"
elif wants vllm; then
    say "vLLM into $VLLM_VENV (pip, offline, hashes required)"
    rm -rf "$VLLM_VENV.partial"
    "$PYTHON" -m venv "$VLLM_VENV.partial"
    pip_offline "$VLLM_VENV.partial/bin/pip" --find-links vllm/wheels -r vllm/requirements.lock
    grep -rlF "$VLLM_VENV.partial" "$VLLM_VENV.partial/bin" | while read -r f; do
        sed -i "s|$VLLM_VENV.partial|$VLLM_VENV|g" "$f"
    done
    rm -rf "$VLLM_VENV.old"
    [ ! -e "$VLLM_VENV" ] || mv "$VLLM_VENV" "$VLLM_VENV.old"
    mv "$VLLM_VENV.partial" "$VLLM_VENV"
    if ! "$VLLM_VENV/bin/python" -c 'import vllm' 2>/dev/null; then
        rm -rf "$VLLM_VENV"
        [ ! -e "$VLLM_VENV.old" ] || mv "$VLLM_VENV.old" "$VLLM_VENV"
        die "the new vLLM venv does not import vllm; the previous one is back in place"
    fi
    rm -rf "$VLLM_VENV.old"
fi
say "done. Check: revisor doctor --data-dir /var/lib/revisor (the gpu and gpu:fit lines)"
