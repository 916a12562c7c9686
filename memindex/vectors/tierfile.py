"""The FAISS tier file: the index in FAISS's own format, so FAISS can memory-map it, then a JSON trailer.

    <FAISS index bytes> <JSON header> <u32 header length> <u32 CRC-32 of the header> b"MIXTIER2"

FAISS reads an index from the start of a file and ignores what follows it, so the trailer costs nothing
when mapping. The header names the encoder, dimension, catalog generation and catalog id, and holds the
body's size, its CRC-32 and a quick CRC-32 of its first and last MiB. A file is written whole beside the
old one, fsynced and renamed over it: a crash leaves the old file or the new one, never a mix.

Checks on open (``verify``): ``"full"`` reads the whole body for its CRC; ``"quick"`` does so only up to
``EAGER_CRC_BYTES`` and otherwise checks the size and the quick CRC, so a 10M-vector tier opens in
milliseconds. ``memindex check`` always verifies in full. Files of the first format (``MIXTIER1``: the
header first, then the serialized index) are still read; they are rewritten in this format on next save.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from memindex import faults
from memindex.errors import CorruptStoreError

__all__ = [
    "TierDamagedError",
    "read_trailer",
    "write_tier_file",
    "check_body",
    "fsync_dir",
    "LEGACY_MAGIC",
    "EAGER_CRC_BYTES",
]

MAGIC = b"MIXTIER2"
LEGACY_MAGIC = b"MIXTIER1"
EAGER_CRC_BYTES = 64 << 20
_EDGE = 1 << 20
_CHUNK = 8 << 20
_TAIL = 16  # header length, header CRC, magic


class TierDamagedError(CorruptStoreError):
    """A tier file that is truncated, fails its checksum, or was built from another catalog."""


def read_trailer(fh: BinaryIO, where: str, name: str) -> dict[str, Any]:
    """The header of an open tier file (either format); ``TierDamagedError`` when it has none."""
    size = os.fstat(fh.fileno()).st_size
    if size >= _TAIL:
        fh.seek(size - _TAIL)
        hlen, hcrc = struct.unpack("<II", fh.read(8))
        if fh.read(8) == MAGIC and hlen <= size - _TAIL:
            fh.seek(size - _TAIL - hlen)
            raw = fh.read(hlen)
            if zlib.crc32(raw) != hcrc:
                raise TierDamagedError(f"tier {name}: its header fails its checksum", path=where)
            header = _parse(raw, where, name)
            header["body_offset"] = 0
            _check_size(header, size - _TAIL - hlen, where, name)
            return header
    fh.seek(0)
    head = fh.read(12)
    if head[:8] == LEGACY_MAGIC and len(head) == 12:
        (hlen,) = struct.unpack("<I", head[8:12])
        header = _parse(fh.read(min(hlen, 1 << 20)), where, name)
        header["body_offset"] = 12 + hlen
        header["body_bytes"] = size - 12 - hlen
        return header
    raise TierDamagedError(f"tier {name}: not a memindex tier file (empty or truncated)", path=where)


def _parse(raw: bytes, where: str, name: str) -> dict[str, Any]:
    try:
        header = json.loads(raw)
        if not isinstance(header, dict) or "generation" not in header:
            raise ValueError("no generation")
    except ValueError as exc:
        raise TierDamagedError(f"tier {name}: unreadable header ({exc})", path=where) from exc
    return header


def _check_size(header: dict[str, Any], body: int, where: str, name: str) -> None:
    if int(header.get("body_bytes", -1)) != body:
        raise TierDamagedError(
            f"tier {name}: {body} index bytes where its header says "
            f"{header.get('body_bytes')} (truncated or overwritten)",
            path=where,
        )


def check_body(fh: BinaryIO, header: dict[str, Any], where: str, name: str, *, full: bool) -> None:
    """Compare the body with its CRC-32 (``full``) or its quick CRC of the first and last MiB."""
    offset, size = int(header["body_offset"]), int(header["body_bytes"])
    if "crc32" not in header:
        raise TierDamagedError(f"tier {name} has no checksum", path=where)
    if full or size <= 2 * _EDGE or "quick_crc32" not in header:
        ok = _crc(fh, offset, size) == int(header["crc32"])
    else:
        ok = _edges_crc(fh, offset, size) == int(header["quick_crc32"])
    if not ok:
        raise TierDamagedError(f"tier {name} fails its checksum", path=where)


def _crc(fh: BinaryIO, offset: int, size: int) -> int:
    fh.seek(offset)
    crc, left = 0, size
    while left > 0:
        block = fh.read(min(_CHUNK, left))
        if not block:
            break
        crc, left = zlib.crc32(block, crc), left - len(block)
    return crc


def _edges_crc(fh: BinaryIO, offset: int, size: int) -> int:
    fh.seek(offset)
    first = fh.read(_EDGE)
    fh.seek(offset + size - _EDGE)
    return zlib.crc32(fh.read(_EDGE), zlib.crc32(first))


class _Sink:
    """A FAISS writer callback that writes to a file and keeps the running CRC-32."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.crc, self.size = fh, 0, 0

    def __call__(self, block: bytes) -> int:
        self.fh.write(block)
        self.crc = zlib.crc32(block, self.crc)
        self.size += len(block)
        return len(block)


def write_tier_file(path: Path, index: Any, header: dict[str, Any]) -> None:
    """Write ``index`` and ``header`` as a tier file, atomically (temporary file, fsync, rename)."""
    import faiss

    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w+b") as fh:
        sink = _Sink(fh)
        faiss.write_index(index, faiss.PyCallbackIOWriter(sink))  # type: ignore[attr-defined]
        faults.point("tier.write")
        fh.flush()
        quick = _edges_crc(fh, 0, sink.size) if sink.size > 2 * _EDGE else sink.crc
        fh.seek(sink.size)
        raw = json.dumps(
            {**header, "format": 2, "body_bytes": sink.size, "crc32": sink.crc, "quick_crc32": quick}
        ).encode()
        fh.write(raw + struct.pack("<II", len(raw), zlib.crc32(raw)) + MAGIC)
        fh.flush()
        os.fsync(fh.fileno())
    faults.point("tier.replace")
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
