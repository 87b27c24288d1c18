"""Columnar text: ids and JSON fragments as Arrow string arrays, without a loop per row.

Properties are JSON objects assembled by joining fragments element-wise. Fragment
vocabularies are small and come from :mod:`driftline.demo.catalog`, whose strings contain
no characters that need escaping in JSON.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def json_text(value: str) -> str:
    """A JSON string literal (quotes included) for a catalog value."""
    return json.dumps(value, ensure_ascii=False)


def pick(vocabulary: list[str] | tuple[str, ...], codes: np.ndarray) -> pa.Array:
    """``vocabulary[codes]`` as an Arrow string array."""
    return pa.array(vocabulary, pa.string()).take(pa.array(codes, pa.int64()))


def join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays (and constant strings)."""
    return pc.binary_join_element_wise(*parts, "")


def numbered(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + the zero-padded number, e.g. ``u000042``."""
    text = pc.cast(pa.array(numbers, pa.int64()), pa.string())
    return join(prefix, pc.utf8_lpad(text, width=width, padding="0"))


def hex_text(words: np.ndarray) -> np.ndarray:
    """Rows of uint64 words → an (n, 16 × words) uint8 array of lowercase hex digits."""
    raw = np.ascontiguousarray(words.astype(">u8")).view(np.uint8).reshape(len(words), -1)
    out = np.empty((raw.shape[0], raw.shape[1] * 2), dtype=np.uint8)
    out[:, 0::2] = _HEX[raw >> 4]
    out[:, 1::2] = _HEX[raw & 15]
    return out


def fixed_width_strings(chars: np.ndarray) -> pa.Array:
    """An (n, w) uint8 array of ASCII → an Arrow string array of n strings of width w."""
    n, width = chars.shape
    buffer = pa.py_buffer(np.ascontiguousarray(chars).tobytes())
    return pa.Array.from_buffers(pa.binary(width), n, [None, buffer]).cast(pa.string())


def hex_ids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random 32-hex-digit ids (the shape of Python SDK ``$insert_id`` values)."""
    words = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64).view(np.uint64)
    return fixed_width_strings(hex_text(words.reshape(n, 2)))


def _mix64(x: np.ndarray) -> np.ndarray:
    """A 64-bit mixing function (SplitMix64's finaliser), element-wise."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x & _MASK64


def uuid_ids(keys: np.ndarray, salt: int) -> pa.Array:
    """Stable UUID-shaped ids derived from integer ``keys`` (the same key and salt give the
    same id), e.g. for device ids: ``8-4-4-4-12`` hex digits, version 4 layout."""
    keys = keys.astype(np.uint64)
    with np.errstate(over="ignore"):
        base = keys * np.uint64(2) + np.uint64(salt % (2**62)) * np.uint64(0x9E3779B97F4A7C15)
    words = np.stack([_mix64(base), _mix64(base + np.uint64(1))], axis=1)
    digits = hex_text(words)
    digits[:, 12] = ord("4")
    out = np.full((len(keys), 36), ord("-"), dtype=np.uint8)
    for lo, hi, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        out[:, at : at + hi - lo] = digits[:, lo:hi]
    return fixed_width_strings(out)


def iso_times(ms: np.ndarray) -> pa.Array:
    """Millisecond UTC timestamps → ``YYYY-MM-DDTHH:MM:SS`` text (Mixpanel's ``$created``)."""
    seconds = pa.array(ms // 1000, pa.int64()).cast(pa.timestamp("s"))
    return pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%S")
