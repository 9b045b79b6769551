"""Tiny loaders for the vector files under tests/vectors/ (provenance: tests/vectors/README.md)."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
RFC6962 = VECTORS / "rfc6962"
SIGNED_NOTE = VECTORS / "c2sp" / "signed-note.txt"

# The 8 standard leaves and the roots of their prefixes (tests/vectors/README.md).
STANDARD_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
STANDARD_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@dataclass(frozen=True)
class InclusionProbe:
    path: str
    index: int
    size: int
    leaf_hash: bytes
    root: bytes
    proof: list[bytes]
    want_err: bool


@dataclass(frozen=True)
class ConsistencyProbe:
    path: str
    size1: int
    size2: int
    root1: bytes
    root2: bytes
    proof: list[bytes]
    want_err: bool


def load_inclusion_probes() -> list[InclusionProbe]:
    probes = []
    for file in sorted((RFC6962 / "inclusion").rglob("*.json")):
        d = json.loads(file.read_text())
        probes.append(
            InclusionProbe(
                path=str(file.relative_to(RFC6962)),
                index=d["leafIdx"],
                size=d["treeSize"],
                leaf_hash=_b64(d["leafHash"]),
                root=_b64(d["root"]),
                # "proof": null is Go's nil slice, the empty proof.
                proof=[_b64(p) for p in d["proof"] or []],
                want_err=d["wantErr"],
            )
        )
    return probes


def load_consistency_probes() -> list[ConsistencyProbe]:
    probes = []
    for file in sorted((RFC6962 / "consistency").rglob("*.json")):
        d = json.loads(file.read_text())
        probes.append(
            ConsistencyProbe(
                path=str(file.relative_to(RFC6962)),
                size1=d["size1"],
                size2=d["size2"],
                root1=_b64(d["root1"]),
                root2=_b64(d["root2"]),
                proof=[_b64(p) for p in d["proof"] or []],
                want_err=d["wantErr"],
            )
        )
    return probes


@dataclass(frozen=True)
class NoteExample:
    """One numbered example of signed-note.txt."""

    number: int
    verifier_keys: dict[str, str]  # label ("verifier key", "log verifier key", ...) -> text
    hex_values: dict[str, str]  # "public key (hex)" etc. -> hex
    secrets: dict[str, str]  # "Log key", "Witness key" -> 32-byte Ed25519 seed, hex
    cosignature_time: int | None
    note: str  # the complete signed note


_SECTION = re.compile(r"^(\d+)\. ", re.MULTILINE)


def load_note_examples() -> dict[int, NoteExample]:
    """Split signed-note.txt into its numbered examples and rebuild each signed note.

    Example 1 gives the signed text as a quoted string and the signature line separately;
    examples 2 and 3 give the whole note after a line ending in "note:" or "...):".
    """
    content = SIGNED_NOTE.read_text(encoding="utf-8")
    starts = list(_SECTION.finditer(content))
    examples: dict[int, NoteExample] = {}
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(content)
        section = content[match.start() : end]
        lines = section.split("\n")
        keys = {
            m.group(1).strip(): m.group(2)
            for m in re.finditer(r"^\s*([a-z ]*verifier key):\s+(\S+)$", section, re.MULTILINE)
        }
        hexes = {
            m.group(1).strip(): m.group(2)
            for m in re.finditer(r"^\s*([^:\n]*\(hex\)):\s+([0-9a-f]+)$", section, re.MULTILINE)
        }
        secrets = {
            m.group(1): m.group(2)
            for m in re.finditer(r"^\s*(\w+ key) = .*secret\n\s+([0-9a-f]{64})$", section, re.M)
        }
        time_match = re.search(r"cosignature time (\d+)", section)
        quoted = re.search(r'signed text \(bytes, ends with a newline\): "(.*)"$', section, re.M)
        if quoted:
            text = quoted.group(1).replace("\\n", "\n")
            sig_lines = [line for line in lines if line.startswith("\u2014 ")]
            note = text + "\n" + "".join(line + "\n" for line in sig_lines)
        else:
            header = next(
                j for j, line in enumerate(lines) if line.rstrip().endswith(("note:", "):"))
            )
            body = lines[header + 1 :]
            while body and body[-1] == "":
                body.pop()
            note = "".join(line + "\n" for line in body)
        examples[int(match.group(1))] = NoteExample(
            number=int(match.group(1)),
            verifier_keys=keys,
            hex_values=hexes,
            secrets=secrets,
            cosignature_time=int(time_match.group(1)) if time_match else None,
            note=note,
        )
    return examples
