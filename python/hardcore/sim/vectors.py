"""Input and output vectors as the harnesses read and write them: one hex line per vector, element 0 in the
lowest bits, two's complement."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from hardcore.sim.tools import SimulationError

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# ASCII code -> nibble value, -1 for anything that is not a hex digit (such as
# Icarus' x and z).
_HEX_VALUE = np.full(256, -1, dtype=np.int16)
for _digit, _char in enumerate(b"0123456789abcdef"):
    _HEX_VALUE[_char] = _digit
for _digit, _char in enumerate(b"ABCDEF"):
    _HEX_VALUE[_char] = 10 + _digit

# Elements handled per numpy chunk while encoding/decoding hex, to bound the
# memory of the per-bit intermediate arrays.
_CHUNK_BITS = 1 << 22


def check_inputs(inputs, n_in: int, in_width: int) -> np.ndarray:
    """The inputs as an int64 (N, n_in) array, or ValueError if they don't fit."""
    values = np.asarray(inputs)
    if values.ndim != 2 or values.shape[1] != n_in:
        raise ValueError(f"inputs must have shape (N, {n_in}), got {values.shape}")
    if len(values) == 0:
        raise ValueError("inputs must hold at least one vector")
    if not (np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_):
        raise ValueError(f"inputs must be integers, got dtype {values.dtype}")
    lo, hi = -(1 << (in_width - 1)), (1 << (in_width - 1)) - 1
    # Out-of-range values would be silently truncated by the port.
    if values.min() < lo or values.max() > hi:
        raise ValueError(
            f"inputs must lie in [{lo}, {hi}] for in_width={in_width}, "
            f"got [{values.min()}, {values.max()}]"
        )
    return values.astype(np.int64)


def encode_hex(values: np.ndarray, width: int) -> bytes:
    """One line per row: the row's elements packed element 0 lowest, in hex."""
    n_rows, n_elems = values.shape
    total_bits = n_elems * width
    n_digits = -(-total_bits // 4)
    shifts = np.arange(width, dtype=np.uint64)
    place = np.array([1, 2, 4, 8], dtype=np.uint8)
    # Two's complement bits of each element: int64 viewed as uint64 is the
    # 64-bit pattern; its low `width` bits are the width-bit pattern.
    patterns = values.astype(np.int64).view(np.uint64)
    lines = []
    step = max(1, _CHUNK_BITS // max(1, total_bits))
    for start in range(0, n_rows, step):
        chunk = patterns[start : start + step]
        bits = ((chunk[:, :, None] >> shifts) & np.uint64(1)).astype(np.uint8)
        bits = bits.reshape(len(chunk), total_bits)
        bits = np.pad(bits, ((0, 0), (0, n_digits * 4 - total_bits)))
        nibbles = bits.reshape(len(chunk), n_digits, 4) @ place
        text = _HEX_DIGITS[nibbles[:, ::-1]]
        newline = np.full((len(chunk), 1), ord("\n"), dtype=np.uint8)
        lines.append(np.concatenate([text, newline], axis=1).tobytes())
    return b"".join(lines)


def decode_hex(texts: Sequence[bytes], n_elems: int, width: int) -> np.ndarray:
    """Inverse of encode_hex: hex strings -> int64 (N, n_elems), sign-extended."""
    total_bits = n_elems * width
    n_digits = -(-total_bits // 4)
    bad = [i for i, t in enumerate(texts) if len(t) != n_digits]
    if bad:
        raise SimulationError(
            f"output {bad[0]} is {texts[bad[0]]!r}; expected {n_digits} hex digits"
        )
    if not texts:
        return np.zeros((0, n_elems), dtype=np.int64)
    ascii_codes = np.frombuffer(b"".join(texts), dtype=np.uint8).reshape(len(texts), n_digits)
    nibbles = _HEX_VALUE[ascii_codes]
    unknown = np.flatnonzero((nibbles < 0).any(axis=1))
    if len(unknown):
        raise SimulationError(
            f"y has unknown (x/z) bits in {len(unknown)} outputs; "
            f"first: output {unknown[0]} = {texts[unknown[0]].decode(errors='replace')}"
        )
    # Least significant digit first, then bits within each digit.
    nibbles = nibbles[:, ::-1].astype(np.uint8)
    shifts = np.arange(width, dtype=np.uint64)
    sign = np.uint64(1 << (width - 1))
    rows = []
    step = max(1, _CHUNK_BITS // max(1, n_digits * 4))
    for start in range(0, len(texts), step):
        chunk = nibbles[start : start + step]
        bits = (chunk[:, :, None] >> np.arange(4, dtype=np.uint8)) & 1
        bits = bits.reshape(len(chunk), n_digits * 4)[:, :total_bits]
        bits = bits.reshape(len(chunk), n_elems, width).astype(np.uint64)
        unsigned = (bits << shifts).sum(axis=2, dtype=np.uint64)
        # (v ^ s) - s sign-extends a width-bit v, modulo 2**64.
        rows.append(((unsigned ^ sign) - sign).view(np.int64))
    return np.concatenate(rows)


def read_outputs(path: Path, n_out: int, out_width: int) -> tuple[np.ndarray, np.ndarray]:
    """(cycle or vector index per output, outputs) from a harness' outputs file."""
    if not path.exists():
        raise SimulationError(f"the simulation wrote no {path}")
    tokens = path.read_bytes().split()
    if len(tokens) % 2:
        raise SimulationError(f"{path} is malformed: expected '<cycle> <hex>' lines")
    cycles = np.array([int(t) for t in tokens[0::2]], dtype=np.int64)
    return cycles, decode_hex(tokens[1::2], n_out, out_width)

