"""A throw-away OpenLDAP server for tests: Debian's slapd, our own config, a test CA.

`start_slapd(tmp)` writes slapd.conf (mdb backend) and a CA + server certificate made with
`cryptography`, seeds the directory with `slapadd` from LDIF, then runs slapd in the foreground on
loopback ports: one ldaps:// and one ldap:// (StartTLS). Nothing touches the system slapd.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
SUFFIX = "dc=example,dc=org"
SERVICE_DN = f"cn=revisor,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "service-pw"
PASSWORDS = {
    "alice": "alice-pw",  # in ops, which is nested in revisor-admins -> admin
    "bob": "bob-pw",  # revisor-maintainers -> maintainer
    "carol": "carol-pw",  # revisor-auditors -> auditor
    "dave": "dave-pw",  # no group -> no role
    "erin": "erin-pw",  # nested 7 levels below revisor-viewers -> beyond the depth limit
}
GROUP_ROLES = {
    f"cn=revisor-admins,ou=groups,{SUFFIX}": "admin",
    f"cn=revisor-maintainers,ou=groups,{SUFFIX}": "maintainer",
    f"cn=revisor-auditors,ou=groups,{SUFFIX}": "auditor",
    f"cn=revisor-viewers,ou=groups,{SUFFIX}": "viewer",
}


def slapd_available() -> bool:
    return Path(SLAPD).exists() and Path(SLAPADD).exists() and (MODULE_DIR / "back_mdb.so").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_pki(
    directory: Path, name: str = "Test CA", hosts: tuple[str, ...] = ("127.0.0.1",)
) -> Pki:
    """A CA and a server certificate for `hosts` (IP addresses or DNS names) signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return pki


def seed_ldif() -> str:
    people = "".join(
        f"""
dn: uid={uid},ou=people,{SUFFIX}
objectClass: inetOrgPerson
uid: {uid}
cn: {uid.title()}
sn: {uid.title()}
displayName: {uid.title()} Example
userPassword: {pw}
"""
        for uid, pw in PASSWORDS.items()
    )

    def group(cn: str, *members: str) -> str:
        lines = "".join(f"member: {m}\n" for m in members)
        return f"\ndn: cn={cn},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {cn}\n{lines}"

    def person(uid: str) -> str:
        return f"uid={uid},ou=people,{SUFFIX}"

    def grp(cn: str) -> str:
        return f"cn={cn},ou=groups,{SUFFIX}"

    # erin -> deep0 -> deep1 -> ... -> deep6 -> revisor-viewers (7 hops up)
    chain = [group("deep0", person("erin"))]
    chain += [group(f"deep{i}", grp(f"deep{i - 1}")) for i in range(1, 7)]
    return (
        f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: ou=services,{SUFFIX}
objectClass: organizationalUnit
ou: services

dn: {SERVICE_DN}
objectClass: person
cn: revisor
sn: revisor
userPassword: {SERVICE_PASSWORD}
"""
        + people
        + group("ops", person("alice"))
        + group("revisor-admins", grp("ops"))
        + group("revisor-maintainers", person("bob"))
        + group("revisor-auditors", person("carol"))
        + group("revisor-viewers", grp("deep6"))
        + "".join(chain)
    )


@dataclass
class Slapd:
    process: subprocess.Popen[bytes]
    ldaps_url: str
    ldap_url: str  # StartTLS
    pki: Pki
    directory: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_slapd(directory: Path) -> Slapd:
    pki = make_pki(directory / "pki")
    db_dir = directory / "db"
    db_dir.mkdir(parents=True)
    conf = directory / "slapd.conf"
    schemas = "".join(
        f"include {SCHEMA_DIR / name}.schema\n"
        for name in ("core", "cosine", "nis", "inetorgperson")
    )
    conf.write_text(
        f"""{schemas}
modulepath {MODULE_DIR}
moduleload back_mdb
pidfile {directory / "slapd.pid"}
argsfile {directory / "slapd.args"}
TLSCACertificateFile {pki.ca_file}
TLSCertificateFile {pki.cert_file}
TLSCertificateKeyFile {pki.key_file}

database mdb
maxsize 10485760
suffix "{SUFFIX}"
rootdn "cn=root,{SUFFIX}"
directory {db_dir}
access to attrs=userPassword by self =xw by anonymous auth by * none
access to * by users read by * none
"""
    )
    (directory / "seed.ldif").write_text(seed_ldif())
    subprocess.run(
        [SLAPADD, "-f", str(conf), "-l", str(directory / "seed.ldif")],
        check=True,
        capture_output=True,
        timeout=30,
    )
    ldaps_port, ldap_port = free_port(), free_port()
    ldaps_url, ldap_url = f"ldaps://127.0.0.1:{ldaps_port}", f"ldap://127.0.0.1:{ldap_port}"
    log = (directory / "slapd.log").open("wb")
    process = subprocess.Popen(
        [SLAPD, "-d", "0", "-f", str(conf), "-h", f"{ldaps_url}/ {ldap_url}/"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    slapd = Slapd(process, ldaps_url, ldap_url, pki, directory)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited: {(directory / 'slapd.log').read_text()}")
        try:
            with (
                socket.create_connection(("127.0.0.1", ldaps_port), timeout=0.5),
                socket.create_connection(("127.0.0.1", ldap_port), timeout=0.5),
            ):
                return slapd
        except OSError:
            time.sleep(0.05)
    slapd.stop()
    raise RuntimeError("slapd did not start listening within 15 s")


def ensure_tools() -> str | None:
    """None when slapd can run here, else the reason to skip."""
    if not slapd_available():
        return "Debian's slapd is not installed (apt-get install slapd ldap-utils)"
    if shutil.which("slapadd") is None and not Path(SLAPADD).exists():
        return "slapadd missing"
    return None
