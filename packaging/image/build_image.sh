#!/usr/bin/env bash
# Build the Revisor appliance OS image: a minimal Debian 12 root file system with the offline
# bundle installed by its own install.sh (units enabled, not started), as an ext4 image, plus
# the kernel and initrd to boot it with (see docs/install.md, "The appliance OS image").
#
#   sudo RELEASE_PUBKEY=FILE packaging/image/build_image.sh [BUNDLE] [OUT_DIR]   (or: make image)
#
# The bundle is trusted the same way as on an appliance: verified BEFORE it is unpacked by this
# tree's packaging/verify-bundle.sh (never a script from the bundle) against a pinned key:
# RELEASE_PUBKEY (a public key file), else the public half of REVISOR_BUNDLE_SIGNING_KEY (the
# key this machine signs with); RELEASE_FINGERPRINT=sha256:HEX, when set, must match it. Then
# it is unpacked with tar --no-same-owner --no-same-permissions and installed with that key
# pinned; the image keeps it in /etc/revisor/release-key.pem for its upgrades.
# Needs root, mmdebstrap and e2fsprogs (Debian packages) and a Debian mirror (MIRROR=...).
# No loop devices or mounts: `mkfs.ext4 -d` fills the file system from the directory.
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION="$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')"
BUNDLE="${1:-dist/revisor-$VERSION-linux-x86_64.tar.gz}"
OUT="${2:-dist}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SUITE="${SUITE:-bookworm}"
SIZE="${IMAGE_SIZE:-4G}"
WORK="$(mktemp -d /var/tmp/revisor-image.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

[ "$(id -u)" = 0 ] || { echo "build_image.sh: run as root" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "build_image.sh: apt-get install mmdebstrap" >&2; exit 1; }
[ -f "$BUNDLE" ] || { echo "build_image.sh: no bundle $BUNDLE (make bundle)" >&2; exit 1; }
PUBKEY="$WORK/release-key.pem"
if [ -n "${RELEASE_PUBKEY:-}" ]; then
    cp "$RELEASE_PUBKEY" "$PUBKEY"
elif [ -n "${REVISOR_BUNDLE_SIGNING_KEY:-}" ]; then
    openssl pkey -in "$REVISOR_BUNDLE_SIGNING_KEY" -pubout -out "$PUBKEY"
else
    echo "build_image.sh: no pinned key: set RELEASE_PUBKEY=FILE (or REVISOR_BUNDLE_SIGNING_KEY)" >&2
    exit 1
fi
PIN=()
[ -z "${RELEASE_FINGERPRINT:-}" ] || PIN=(--fingerprint "$RELEASE_FINGERPRINT")
echo "==> verifying $BUNDLE"
# Verified and listed before a single member is written (and before the slow debootstrap), by
# this tree's verifier; it prints the unpacked directory.
UNPACKED="$(packaging/verify-bundle.sh --pubkey "$PUBKEY" "${PIN[@]}" --extract "$WORK/bundle" "$BUNDLE")"
TOP="$(basename "$UNPACKED")"
[ "$TOP" = "revisor-$VERSION" ] \
    || { echo "build_image.sh: $BUNDLE holds $TOP, not revisor-$VERSION" >&2; exit 1; }

ROOTFS="$WORK/rootfs"
PACKAGES=systemd,systemd-sysv,udev,dbus,linux-image-amd64,ifupdown,isc-dhcp-client,iproute2,nftables,openssl,python3,python3-venv,ca-certificates,systemd-timesyncd,less,nano
echo "==> debootstrapping Debian $SUITE ($MIRROR)"
mmdebstrap --variant=minbase --include="$PACKAGES" \
    --customize-hook='echo revisor > "$1/etc/hostname"' \
    --customize-hook='printf "auto lo\niface lo inet loopback\nauto eth0\niface eth0 inet dhcp\n" > "$1/etc/network/interfaces"' \
    --customize-hook='echo "/dev/vda / ext4 defaults 0 1" > "$1/etc/fstab"' \
    "$SUITE" "$ROOTFS" "$MIRROR"

echo "==> installing the bundle inside the image"
mv "$WORK/bundle" "$ROOTFS/root/bundle"
install -m 0644 "$PUBKEY" "$ROOTFS/root/release-key.pem"
mount --bind /proc "$ROOTFS/proc" 2>/dev/null && trap 'umount "$ROOTFS/proc" 2>/dev/null; rm -rf "$WORK"' EXIT || true
chroot "$ROOTFS" env PYTHON=/usr/bin/python3 "/root/bundle/$TOP/install.sh" --no-start \
    --pubkey /root/release-key.pem "${PIN[@]}" \
    --allow-net 10.0.0.0/8 --allow-net 172.16.0.0/12 --allow-net 192.168.0.0/16
umount "$ROOTFS/proc" 2>/dev/null || true
install -m 0644 appliance/nftables.conf "$ROOTFS/etc/nftables.conf" 2>/dev/null || true
rm -rf "$ROOTFS/root/bundle" "$ROOTFS/root/release-key.pem"
# Every appliance makes its own keys on first boot: drop what `revisor init` made in the chroot.
find "$ROOTFS/var/lib/revisor" -mindepth 1 -maxdepth 1 ! -name revisor.toml ! -name keys \
    ! -name logs ! -name run ! -name models -exec rm -rf {} +
find "$ROOTFS/var/lib/revisor/keys" -mindepth 1 -delete
install -m 0644 packaging/image/revisor-firstboot.service "$ROOTFS/etc/systemd/system/"
chroot "$ROOTFS" systemctl enable revisor-firstboot.service >/dev/null
chroot "$ROOTFS" systemctl enable systemd-timesyncd >/dev/null 2>&1 || true

mkdir -p "$OUT"
cp "$(ls "$ROOTFS"/boot/vmlinuz-* | tail -1)" "$OUT/revisor-$VERSION-vmlinuz"
cp "$(ls "$ROOTFS"/boot/initrd.img-* | tail -1)" "$OUT/revisor-$VERSION-initrd.img"
IMAGE="$OUT/revisor-$VERSION-appliance.ext4"
rm -f "$IMAGE"
echo "==> writing $IMAGE ($SIZE)"
mkfs.ext4 -q -L revisor-root -d "$ROOTFS" "$IMAGE" "$SIZE"
ls -la "$OUT"/revisor-"$VERSION"-*
echo "==> boot it: see docs/install.md, 'The appliance OS image'"
