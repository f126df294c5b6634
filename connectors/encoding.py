"""Recognising text encodings a file does not declare."""

from __future__ import annotations

SNIFF = 4096  # bytes looked at: the header and the first rows


def utf16_without_bom(raw: bytes) -> str | None:
    """ "utf-16-le" or "utf-16-be" when `raw` reads as UTF-16 without a byte-order mark, else None.

    Text in UTF-16 written without a BOM (some exporters and PowerShell do) holds a NUL byte
    before (BE) or after (LE) every ASCII character; a UTF-8 or cp1252 file holds none. A
    header is ASCII in practice, so at least half the bytes on one side being NUL and hardly
    any (one in twenty: a character such as U+0100 has one) on the other settles it. UTF-32
    has NULs on both sides and is not taken for UTF-16.
    """
    sample = raw[: SNIFF - SNIFF % 2]
    sample = sample[: len(sample) - len(sample) % 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    half = len(sample) // 2
    if odd.count(0) * 2 >= half and even.count(0) * 20 <= half:
        return "utf-16-le"
    if even.count(0) * 2 >= half and odd.count(0) * 20 <= half:
        return "utf-16-be"
    return None
