"""`revisor audit verify DIR`: check an export offline, using nothing but the exported files.

Checks, in this order (the report names the first bad record first):
1. the hash chain of `records.jsonl`: consecutive sequence numbers starting at the manifest's
   `first_seq`, each record's hash recomputed, each `prev_hash` equal to the previous record's
   hash (the first one equal to the manifest's `first_prev_hash`) — catches edited, deleted,
   reordered or inserted records;
2. the signed checkpoints: valid signatures, and the hash at each checkpoint's seq equal to the
   record's — catches a rewrite that recomputed the chain;
3. the manifest's count, last seq and last hash — catches an export cut short;
4. `SHA256SUMS` against every file, and its Ed25519 signature with `public_key.pem`;
5. optionally, the public key against a fingerprint the auditor pinned beforehand. Without a
   pinned key, the export proves integrity relative to the key it carries: compare the printed
   fingerprint with the one the appliance showed at installation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from revisor.audit.checkpoint import verify_checkpoint
from revisor.audit.export import (
    CHECKPOINTS,
    EXPORT_TYPE,
    MANIFEST,
    PUBLIC_KEY,
    RECORDS,
    SUMS,
    SUMS_SIG,
)
from revisor.audit.keys import fingerprint, key_id, load_public_key
from revisor.audit.log import record_hash
from revisor.audit.witness import check_witness

REQUIRED = (MANIFEST, RECORDS, CHECKPOINTS, PUBLIC_KEY)


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    problems: tuple[str, ...]
    first_bad_seq: int | None = None
    count: int = 0
    first_seq: int = 0
    last_seq: int = 0
    checkpoints: int = 0
    fingerprint: str = ""
    last_checkpoint_seq: int = 0
    witness_seq: int | None = None

    @property
    def unsigned_tail(self) -> int:
        """Records after the last signed checkpoint: nothing but the manifest vouches for them."""
        if not self.count:
            return 0
        return self.last_seq - max(self.last_checkpoint_seq, self.first_seq - 1)

    def coverage(self) -> str:
        if not self.count:
            return "no records"
        if not self.last_checkpoint_seq:
            return f"no signed checkpoint: all {self.count} records are an unsigned tail"
        line = (
            f"last signed checkpoint at seq {self.last_checkpoint_seq}, last record seq "
            f"{self.last_seq}"
        )
        if self.unsigned_tail:
            first = self.last_checkpoint_seq + 1
            return (
                f"{line}: records {first}..{self.last_seq} are an unsigned tail "
                f"({self.unsigned_tail} record(s) no checkpoint vouches for)"
            )
        return line + ": every record is covered by a signed checkpoint"

    def summary(self) -> str:
        if self.ok:
            lines = [
                f"OK: {self.count} records (seq {self.first_seq}..{self.last_seq}), "
                f"{self.checkpoints} signed checkpoints, key {self.fingerprint}",
                self.coverage(),
            ]
            if self.witness_seq is not None:
                lines.append(f"witness: the export contains seq {self.witness_seq} as witnessed")
            return "\n".join(lines)
        head = "FAILED"
        if self.first_bad_seq is not None:
            head += f": first bad record is seq {self.first_bad_seq}"
        return "\n".join([head, *(f"  - {p}" for p in self.problems), self.coverage()])


@dataclass
class _State:
    problems: list[str] = field(default_factory=list)
    first_bad: int | None = None

    def bad_record(self, seq: int, message: str) -> None:
        if self.first_bad is None:
            self.first_bad = seq
        self.problems.append(message)


def verify_export(
    directory: Path,
    *,
    expected_fingerprint: str | None = None,
    witness: dict[str, Any] | None = None,
) -> VerifyReport:
    """Verify an export directory (and that it contains `witness`, a checkpoint the auditor
    kept). Pure apart from reading the files; never raises on bad input."""
    st = _State()
    missing = [n for n in (*REQUIRED, SUMS, SUMS_SIG) if not (directory / n).is_file()]
    if missing:
        return VerifyReport(False, (f"missing file(s): {', '.join(missing)}",))

    public_key, fp = _public_key(directory, st)
    manifest = _manifest(directory, st)
    records = _records(directory, st)
    hashes = _check_chain(records, manifest, st)
    n_checkpoints, last_cp = _check_checkpoints(directory, public_key, hashes, st)
    _check_complete(records, manifest, hashes, st)
    _check_sums(directory, public_key, st)
    if expected_fingerprint and fp and not hmac.compare_digest(fp, expected_fingerprint.strip()):
        st.problems.append(f"public key {fp} is not the pinned key {expected_fingerprint}")
    if manifest.get("fingerprint") and fp and manifest["fingerprint"] != fp:
        st.problems.append("manifest names a different signing key than public_key.pem")
    seqs = [r.get("seq") for r in records if isinstance(r, dict)]
    first_seq = seqs[0] if seqs and isinstance(seqs[0], int) else 0
    last_seq = seqs[-1] if seqs and isinstance(seqs[-1], int) else 0
    if witness is not None:
        st.problems += check_witness(witness, public_key, hashes, first_seq, last_seq)
    if last_cp > last_seq:
        st.problems.append(
            f"a signed checkpoint vouches for seq {last_cp} but the records end at seq "
            f"{last_seq}: records {last_seq + 1}..{last_cp} were cut off"
        )
    return VerifyReport(
        ok=not st.problems,
        problems=tuple(st.problems),
        first_bad_seq=st.first_bad,
        count=len(records),
        first_seq=first_seq,
        last_seq=last_seq,
        checkpoints=n_checkpoints,
        fingerprint=fp,
        last_checkpoint_seq=min(last_cp, last_seq),
        witness_seq=witness["seq"] if witness is not None else None,
    )


def _public_key(directory: Path, st: _State) -> tuple[Ed25519PublicKey | None, str]:
    try:
        key = load_public_key((directory / PUBLIC_KEY).read_bytes())
    except ValueError as exc:
        st.problems.append(f"{PUBLIC_KEY}: {exc}")
        return None, ""
    return key, fingerprint(key)


def _manifest(directory: Path, st: _State) -> dict[str, Any]:
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        st.problems.append(f"{MANIFEST} is not valid JSON: {exc}")
        return {}
    if not isinstance(manifest, dict) or manifest.get("type") != EXPORT_TYPE:
        st.problems.append(f"{MANIFEST} is not a Revisor audit export manifest")
        return {}
    return manifest


def _records(directory: Path, st: _State) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    raw = (directory / RECORDS).read_bytes()
    for lineno, line in enumerate(raw.splitlines(), start=1):
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        if not isinstance(rec, dict) or not isinstance(rec.get("seq"), int):
            st.problems.append(f"{RECORDS} line {lineno} is not an audit record")
            out.append({"seq": None, "_line": lineno})
            continue
        out.append(rec)
    return out


def _check_chain(
    records: list[dict[str, Any]], manifest: dict[str, Any], st: _State
) -> dict[int, str]:
    """Walk the chain; stop at the first broken link (everything after it is unproven)."""
    hashes: dict[int, str] = {}
    expected = manifest.get("first_seq")
    prev = manifest.get("first_prev_hash")
    if not records:
        return hashes
    if not isinstance(expected, int) or not isinstance(prev, str):
        expected, prev = records[0].get("seq"), records[0].get("prev_hash")
        st.problems.append("manifest lacks first_seq/first_prev_hash: the start is unproven")
    for rec in records:
        seq = rec.get("seq")
        if not isinstance(seq, int) or not isinstance(expected, int):
            st.bad_record(expected or 0, f"record {expected}: unreadable line {rec.get('_line')}")
            break
        if seq != expected:
            what = "deleted" if seq > expected else "out of order or duplicated"
            st.bad_record(
                expected,
                f"record {expected}: expected seq {expected}, found seq {seq} "
                f"(record {expected if seq > expected else seq} {what})",
            )
            break
        body = {k: v for k, v in rec.items() if k != "hash"}
        if record_hash(body) != rec.get("hash"):
            st.bad_record(seq, f"record {seq}: content does not match its hash (record edited)")
            break
        if rec.get("prev_hash") != prev:
            st.bad_record(
                seq,
                f"record {seq}: prev_hash does not match record {seq - 1} "
                "(a record before it was edited, deleted or reordered)",
            )
            break
        hashes[seq] = rec["hash"]
        prev = rec["hash"]
        expected = seq + 1
    return hashes


def _check_checkpoints(
    directory: Path, key: Ed25519PublicKey | None, hashes: dict[int, str], st: _State
) -> tuple[int, int]:
    """(number of good checkpoints, highest seq a good one vouches for)."""
    verified = 0
    last_good = 0
    highest = 0
    for lineno, line in enumerate((directory / CHECKPOINTS).read_bytes().splitlines(), start=1):
        try:
            cp = json.loads(line)
            seq = int(cp["seq"])
        except (ValueError, KeyError, TypeError):
            st.problems.append(f"{CHECKPOINTS} line {lineno} is not a checkpoint")
            continue
        if key is None or not verify_checkpoint(key, cp) or cp.get("key_id") != key_id(key):
            st.problems.append(f"checkpoint at seq {seq}: signature does not verify")
            continue
        if seq in hashes and hashes[seq] != cp["hash"]:
            st.bad_record(
                last_good + 1,
                f"records {last_good + 1}..{seq} do not match the signed checkpoint at seq {seq} "
                "(rewritten and re-chained)",
            )
            continue
        verified += 1
        last_good = seq
        highest = max(highest, seq)
    return verified, highest


def _check_complete(
    records: list[dict[str, Any]], manifest: dict[str, Any], hashes: dict[int, str], st: _State
) -> None:
    if not manifest:
        return
    count, last_seq, last_hash = (
        manifest.get("count"),
        manifest.get("last_seq"),
        manifest.get("last_hash"),
    )
    found_last = records[-1].get("seq") if records else None
    if len(records) != count or (records and found_last != last_seq):
        st.problems.append(
            f"export truncated or padded: manifest declares {count} records ending at seq "
            f"{last_seq}, found {len(records)} ending at seq {found_last}"
        )
        first_missing = found_last + 1 if isinstance(found_last, int) else manifest.get("first_seq")
        if (
            isinstance(first_missing, int)
            and isinstance(last_seq, int)
            and first_missing <= last_seq
        ):
            st.bad_record(first_missing, f"records {first_missing}..{last_seq} are missing")
    elif (
        records
        and isinstance(last_seq, int)
        and last_seq in hashes
        and hashes[last_seq] != last_hash
    ):
        st.bad_record(last_seq, f"record {last_seq}: hash differs from the manifest")


def _check_sums(directory: Path, key: Ed25519PublicKey | None, st: _State) -> None:
    sums = (directory / SUMS).read_bytes()
    if key is not None:
        try:
            key.verify((directory / SUMS_SIG).read_bytes(), sums)
        except InvalidSignature:
            st.problems.append(f"{SUMS_SIG}: signature over {SUMS} does not verify")
    listed: dict[str, str] = {}
    for line in sums.decode("utf-8", "replace").splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or "/" in name or name in {SUMS, SUMS_SIG}:
            st.problems.append(f"{SUMS}: malformed line {line!r}")
            continue
        listed[name] = digest
    for name in REQUIRED:
        if name not in listed:
            st.problems.append(f"{SUMS} does not cover {name}")
    for name, digest in sorted(listed.items()):
        path = directory / name
        if not path.is_file():
            st.problems.append(f"{name}: listed in {SUMS} but missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            st.problems.append(f"{name}: content does not match {SUMS}")
