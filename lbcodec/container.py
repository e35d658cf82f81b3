"""The .lbc container, format version 1 (byte-level spec: docs/format.md).

    magic "LBC" | version u8 | width varint | height varint | channels u8 |
    method u8 | scale u8 | codec u8 | quality u16le (x100) | flags u8 |
    post id u8 | [post sha256 prefix, 4 bytes, if post id != 0] |
    payload length varint | payload | [alpha length varint | alpha (zlib), if alpha bit] |
    crc32 u32le over every byte before it

A varint is unsigned LEB128. Pure functions: bytes in, bytes out; every malformed
input raises :class:`~lbcodec.errors.CorruptContainerError`, and dimensions are
checked against a pixel limit before anything is allocated.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .codecs import CODEC_BY_ID, CODECS
from .errors import CorruptContainerError
from .pipeline import FLAG_444, METHOD_BY_ID, METHOD_IDS, POST_NONE_ID, Pipeline

MAGIC = b"LBC"
VERSION = 1
#: the largest image a container may declare (pixels); larger headers are refused as absurd
MAX_PIXELS = 1 << 30
MAX_SIDE = 1 << 20
CHANNELS_MASK = 0x07
ALPHA_BIT = 0x08
_MIN_SIZE = len(MAGIC) + 1 + 1 + 1 + 7 + 1 + 4


@dataclass(frozen=True)
class Header:
    """The decoded header of a .lbc file."""

    width: int
    height: int
    channels: int
    pipeline: Pipeline
    has_alpha: bool = False

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class Container:
    header: Header
    payload: bytes
    alpha: bytes = b""  # zlib-compressed alpha plane, empty when the image has none
    header_size: int = 0  # bytes before the payload (informational, set by unpack)


def _varint(n: int) -> bytes:
    if n < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    for i in range(5):  # at most 35 bits
        if pos >= end:
            raise CorruptContainerError("corrupt container: truncated header")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            if i and b == 0:
                raise CorruptContainerError("corrupt container: non-canonical number")
            return value, pos
    raise CorruptContainerError("corrupt container: number too long")


def pack(header: Header, payload: bytes, alpha: bytes = b"") -> bytes:
    """Serialize a container; the inverse of :func:`unpack`."""
    p = header.pipeline
    if header.channels not in (1, 3):
        raise ValueError("channels must be 1 or 3")
    if not (1 <= header.width <= MAX_SIDE and 1 <= header.height <= MAX_SIDE) or header.pixels > MAX_PIXELS:
        raise ValueError("image size out of range")
    if bool(alpha) != header.has_alpha:
        raise ValueError("alpha data must be given exactly when has_alpha is set")
    out = bytearray(MAGIC)
    out.append(VERSION)
    out += _varint(header.width) + _varint(header.height)
    out.append(header.channels | (ALPHA_BIT if header.has_alpha else 0))
    out.append(METHOD_IDS[p.method])
    out.append(p.scale)
    out.append(CODECS[p.codec].container_id)
    out += struct.pack("<H", round(p.quality * 100))
    out.append(FLAG_444 if p.subsampling == "444" else 0)
    out.append(p.post_id)
    out += p.post_hash
    out += _varint(len(payload))
    out += payload
    if header.has_alpha:
        out += _varint(len(alpha)) + alpha
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


def container_size(header: Header, payload_len: int, alpha_len: int = 0) -> int:
    """Exact size in bytes of :func:`pack`'s output, without building it."""
    n = len(MAGIC) + 1 + len(_varint(header.width)) + len(_varint(header.height)) + 7 + 1
    n += len(header.pipeline.post_hash) + len(_varint(payload_len)) + payload_len + 4
    if header.has_alpha:
        n += len(_varint(alpha_len)) + alpha_len
    return n


def unpack(data: bytes, max_pixels: int = MAX_PIXELS) -> Container:
    """Parse and verify a container. Raises CorruptContainerError on any defect."""
    data = bytes(data)
    if len(data) == 0:
        raise CorruptContainerError("corrupt container: the file is empty")
    if not data.startswith(MAGIC[: min(len(data), len(MAGIC))]) or len(data) < len(MAGIC):
        raise CorruptContainerError("not an .lbc file (bad magic bytes)")
    if len(data) < _MIN_SIZE:
        raise CorruptContainerError(f"corrupt container: truncated ({len(data)} bytes)")
    version = data[3]
    (crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise CorruptContainerError("corrupt container: CRC-32 mismatch (truncated or altered file)")
    if version != VERSION:
        raise CorruptContainerError(f"unsupported .lbc format version {version} (this lbcodec reads {VERSION})")
    end = len(data) - 4
    pos = 4
    width, pos = _read_varint(data, pos, end)
    height, pos = _read_varint(data, pos, end)
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > max_pixels:
        raise CorruptContainerError(f"corrupt container: absurd image size {width}x{height}")
    if pos + 8 > end:
        raise CorruptContainerError("corrupt container: truncated header")
    chan_byte, method_id, scale, codec_id = data[pos : pos + 4]
    (quality_x100,) = struct.unpack("<H", data[pos + 4 : pos + 6])
    flags, post_id = data[pos + 6], data[pos + 7]
    pos += 8
    channels = chan_byte & CHANNELS_MASK
    if channels not in (1, 3) or chan_byte & ~(CHANNELS_MASK | ALPHA_BIT):
        raise CorruptContainerError(f"corrupt container: bad channel byte {chan_byte:#04x}")
    if method_id not in METHOD_BY_ID:
        raise CorruptContainerError(f"corrupt container: unknown pre-method id {method_id}")
    if codec_id not in CODEC_BY_ID:
        raise CorruptContainerError(f"corrupt container: unknown codec id {codec_id}")
    if flags & ~FLAG_444:
        raise CorruptContainerError(f"corrupt container: unknown flags {flags:#04x}")
    post_hash = b""
    if post_id != POST_NONE_ID:
        if pos + 4 > end:
            raise CorruptContainerError("corrupt container: truncated header")
        post_hash = data[pos : pos + 4]
        pos += 4
    try:
        pipeline = Pipeline(
            method=METHOD_BY_ID[method_id],
            scale=scale,
            codec=CODEC_BY_ID[codec_id].name,
            quality=quality_x100 / 100,
            subsampling="444" if flags & FLAG_444 else "420",
            post_id=post_id,
            post_hash=post_hash,
        )
    except ValueError as exc:
        raise CorruptContainerError(f"corrupt container: {exc}") from None
    payload_len, pos = _read_varint(data, pos, end)
    header_size = pos
    if pos + payload_len > end:
        raise CorruptContainerError("corrupt container: payload is truncated")
    payload = data[pos : pos + payload_len]
    pos += payload_len
    has_alpha = bool(chan_byte & ALPHA_BIT)
    alpha = b""
    if has_alpha:
        alpha_len, pos = _read_varint(data, pos, end)
        if pos + alpha_len > end:
            raise CorruptContainerError("corrupt container: alpha plane is truncated")
        alpha = data[pos : pos + alpha_len]
        pos += alpha_len
        if not alpha:
            raise CorruptContainerError("corrupt container: empty alpha plane")
    if pos != end:
        raise CorruptContainerError(f"corrupt container: {end - pos} unexpected trailing bytes")
    if not payload:
        raise CorruptContainerError("corrupt container: empty payload")
    header = Header(width, height, channels, pipeline, has_alpha)
    return Container(header, payload, alpha, header_size)
