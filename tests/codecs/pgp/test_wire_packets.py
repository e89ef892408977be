"""`wire.packets`: new-format lengths, the framing loop in its named steps, and the package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gpay_envelope.codecs.pgp import wire as op

WIRE = Path(op.__file__).parent


@pytest.mark.parametrize(
    ("data", "partial", "expected"),
    [
        (b"\x05", True, (5, 1, False)),
        (b"\xc0\x00", True, (192, 2, False)),
        (b"\xdf\xff", True, (8383, 2, False)),
        (b"\xff\x00\x01\x00\x00", True, (65536, 5, False)),
        (b"\xe0", True, (1, 1, True)),
        (b"\xfe", True, (1 << 30, 1, True)),
        # Subpackets have no partial lengths: 224 to 254 start a two-octet length there.
        (b"\xe0\x00", False, (8384, 2, False)),
        (b"\xfe\xff", False, (16319, 2, False)),
    ],
)
def test_lengths(data: bytes, partial: bool, expected: tuple[int, int, bool]) -> None:
    assert op.read_length(data, 0, partial=partial) == expected


@pytest.mark.parametrize("data", [b"", b"\xc0", b"\xff\x00\x00\x00"])
def test_truncated_lengths_are_refused(data: bytes) -> None:
    with pytest.raises(op.Malformed):
        op.read_length(data, 0, partial=True)


def test_both_header_formats_and_partial_chunks_are_joined() -> None:
    body = bytes(range(256)) * 3
    partial = b"\xcb" + b"\xe9" + body[:512] + op.encode_length(256) + body[512:]
    old = bytes((0x80 | (op.TAG_LITERAL << 2) | 1,)) + len(body).to_bytes(2, "big") + body
    indeterminate = bytes((0x80 | (op.TAG_COMPRESSED << 2) | 3,)) + b"\x00abc"
    data = op.packet(op.TAG_MARKER, b"PGP") + partial + old + indeterminate
    assert op.read_packets(data, max_packets=4) == [
        (op.TAG_MARKER, b"PGP"), (op.TAG_LITERAL, body), (op.TAG_LITERAL, body),
        (op.TAG_COMPRESSED, b"\x00abc"),
    ]  # fmt: skip
    with pytest.raises(op.Malformed):
        op.read_packets(data, max_packets=3)


def test_the_package_re_exports_every_public_name_of_its_modules() -> None:
    for module in sorted(WIRE.glob("[a-z]*.py")):
        tree = ast.parse(module.read_text())
        names = {
            n.name
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.ClassDef) and not n.name.startswith("_")
        } | {
            n.target.id
            for n in tree.body
            if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
            and n.target.id.isupper() and module.stem == "registry"
        }  # fmt: skip
        missing = names - set(op.__all__)
        assert not missing, (module.name, missing)
        assert all(getattr(op, name) is not None for name in names)


def test_every_module_is_under_500_lines() -> None:
    for module in WIRE.glob("*.py"):
        assert len(module.read_text().splitlines()) < 500, module.name
