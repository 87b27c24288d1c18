"""Decode Mixpanel ingestion request bodies into record texts.

The SDKs send the same data in several wrappings, and a compatible server accepts all of
them (see ``docs/ingest.md``):

* a form field ``data=`` (POST body or GET query string) holding JSON or padded base64 of
  JSON — the JavaScript SDK sends base64 to any host that is not Mixpanel's;
* a JSON body: one object or an array of objects;
* NDJSON (``/import``): one object per line;
* any of these gzip-compressed (``Content-Encoding: gzip``).

Size limits apply to the *uncompressed* body; decompression stops as soon as the limit is
passed, so a small gzip bomb costs no memory.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qsl

import numpy as np
import orjson
import pyarrow as pa

from driftline.errors import InvalidInput, PayloadTooLarge

FORM_TYPE = "application/x-www-form-urlencoded"
_BASE64 = re.compile(rb"[A-Za-z0-9+/_\-\s]*={0,2}\s*")


class TooManyRecords(InvalidInput):
    """More records than one request may carry."""


@dataclass(frozen=True)
class Body:
    """A request body, uncompressed, with what the request said about it."""

    data: bytes
    content_type: str

    @property
    def is_form(self) -> bool:
        """A form body; also one sent as text/plain (``navigator.sendBeacon`` with a string)."""
        if self.content_type == FORM_TYPE:
            return True
        return self.content_type in ("", "text/plain") and self.data.lstrip()[:5] == b"data="


async def read_body(
    chunks: AsyncIterator[bytes], *, encoding: str | None, content_type: str | None, limit: int
) -> Body:
    """Read a request body (at most ``limit`` bytes once uncompressed)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
        raise InvalidInput(
            f"Content-Encoding {encoding!r} is not supported; send gzip or no encoding",
            field="Content-Encoding",
        )
    inflater = None
    if encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(wbits=31)
    elif encoding == "deflate":
        inflater = zlib.decompressobj(wbits=47)  # zlib or gzip header, auto-detected
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        if not chunk:
            continue
        if inflater is not None:
            try:
                chunk = inflater.decompress(chunk, limit + 1 - size)
            except zlib.error:
                raise InvalidInput(
                    "the body is not valid gzip data; compress it with gzip or drop the "
                    "Content-Encoding header",
                    field="Content-Encoding",
                ) from None
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request exceeds max limit of {limit} bytes")
        parts.append(chunk)
    if inflater is not None and not inflater.eof and size:
        raise InvalidInput(
            "the gzip body is truncated; send the whole compressed stream",
            field="Content-Encoding",
        )
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return Body(b"".join(parts), mime)


_QUOTE = ord('"')
_NUMPY_FROM = 16_384
_BACKSLASH = ord("\\")


def form_fields(raw: bytes | str) -> dict[str, str]:
    """``application/x-www-form-urlencoded`` fields (the last value of a repeated name)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raw = raw.decode("latin-1")
    try:
        return dict(parse_qsl(raw, keep_blank_values=True, max_num_fields=1000))
    except ValueError:
        raise InvalidInput("the form has too many fields", field="data") from None


def decode_data(value: str | bytes, *, field: str = "data") -> bytes:
    """The JSON text inside a ``data`` field: sent as JSON, or as base64 of JSON."""
    text = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    head = text.lstrip()[:1]
    if head in (b"[", b"{"):
        return text
    if not text.strip():
        raise InvalidInput(f"'{field}' is empty; send a JSON event or a list of them", field=field)
    if _BASE64.fullmatch(text) is None:
        raise InvalidInput(f"'{field}' is neither JSON nor base64-encoded JSON", field=field)
    # form decoding turns '+' into ' ' when the client did not escape it: undo that
    compact = re.sub(rb"[\t\r\n]", b"", text.strip()).replace(b" ", b"+")
    compact = compact.replace(b"-", b"+").replace(b"_", b"/")
    compact += b"=" * (-len(compact) % 4)
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"'{field}' is not valid base64", field=field) from None
    if decoded.lstrip()[:1] not in (b"[", b"{"):
        raise InvalidInput(f"'{field}' is not base64-encoded JSON", field=field)
    return decoded


def json_documents(text: bytes, *, field: str = "data") -> list[object]:
    """A JSON object or array of objects, as a list of parsed values."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        doc = _lenient_json(text, exc, field)
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        return [doc]
    raise InvalidInput(f"'{field}' must be a JSON object or a list of objects", field=field)


def _lenient_json(text: bytes, exc: Exception, field: str) -> object:
    """Parse what orjson refuses but JSON allows (integers beyond 64 bits)."""
    import json

    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidInput(f"'{field}' is not valid JSON: {exc}", field=field) from None


def _dumps(doc: object) -> bytes:
    try:
        return orjson.dumps(doc)
    except TypeError:  # an integer beyond 64 bits, kept as JSON allows
        import json

        return json.dumps(doc, separators=(",", ":")).encode()


def json_records(text: bytes, *, field: str = "data", limit: int) -> pa.Array:
    """Each event of a JSON object or array as its own JSON text (an Arrow string array)."""
    return record_texts(json_docs(text, field=field, limit=limit))


class Docs(list):  # type: ignore[type-arg]
    """Parsed events, and whether one of them may hold a string over 255 characters."""

    long_strings: bool = True


def json_docs(text: bytes, *, field: str = "data", limit: int) -> Docs:
    """The events of a JSON object or array, parsed (at least one, at most ``limit``)."""
    docs = Docs(json_documents(text, field=field))
    _check_count(len(docs), limit)
    docs.long_strings = may_hold_long_strings(text)
    return docs


def may_hold_long_strings(text: bytes, chars: int = 255) -> bool:
    """False when no JSON string in ``text`` can be longer than ``chars`` characters.

    Without escaped quotes, every string's bytes lie between two quote characters, and a
    string has at least as many bytes as characters; the gaps between the quotes are
    measured in numpy for large bodies (a 2000-event body in a quarter of a millisecond).
    """
    if len(text) <= chars:
        return False
    if len(text) < _NUMPY_FROM:  # a few events: numpy's fixed costs are more than the split
        return b'\\"' in text or max(map(len, text.split(b'"'))) > chars
    data = np.frombuffer(text, np.uint8)
    quotes = np.flatnonzero(data == _QUOTE)
    if len(quotes) == 0:
        return True
    inner = quotes[quotes > 0]
    if len(inner) and bool((data[inner - 1] == _BACKSLASH).any()):
        return True  # an escaped quote: gaps say nothing
    longest = max(int(quotes[0]), len(text) - 1 - int(quotes[-1]))
    if len(quotes) > 1:
        longest = max(longest, int(np.diff(quotes).max()) - 1)
    return longest > chars


def record_texts(docs: list[object]) -> pa.Array:
    """Parsed events as JSON texts (an Arrow string array)."""
    # orjson writes UTF-8 only (the json fallback ASCII): decoding cannot fail, and is
    # cheaper than an Arrow cast for the single event of a /track request
    return pa.array([_dumps(d).decode() for d in docs], pa.string())


def ndjson_records(text: bytes, *, limit: int) -> pa.Array:
    """One record per non-blank line (blank lines are skipped)."""
    lines = [line for line in text.split(b"\n") if line.strip()]
    _check_count(len(lines), limit)
    try:
        return pa.array(lines, pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        raise InvalidInput("the body is not valid UTF-8", field="body") from None


def body_records(body: Body, *, limit: int) -> pa.Array | list[object]:
    """Records of a JSON or NDJSON body, told apart by Content-Type or by sniffing: JSON
    texts (NDJSON), or the parsed events (a JSON array)."""
    text = body.data
    if not text.strip():
        raise InvalidInput("the body is empty; send a JSON array of events", field="body")
    if body.content_type in ("application/x-ndjson", "application/jsonl", "application/ndjson"):
        return ndjson_records(text, limit=limit)
    if text.lstrip()[:1] == b"[":
        return json_docs(text, field="body", limit=limit)
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return ndjson_records(text, limit=limit)  # several lines, or one invalid record
    if not isinstance(doc, dict):
        raise InvalidInput("the body must be a JSON array of events", field="body")
    return [doc]


def _check_count(count: int, limit: int) -> None:
    if count == 0:
        raise InvalidInput("no events in the request", field="data")
    if count > limit:
        raise TooManyRecords(
            f"request has {count} records; send at most {limit} per request", field="data"
        )
