"""Standard-codec adapters, looked up by name or by their fixed container id."""

from __future__ import annotations

from .avif import AvifCodec
from .base import SUBSAMPLINGS, TUNES, Codec
from .heif import HeifCodec
from .jpeg import JpegCodec
from .jpeg2000 import Jpeg2000Codec
from .jpegxl import JpegxlCodec
from .webp import WebpCodec

_CLASSES: tuple[type[Codec], ...] = (
    JpegCodec,
    Jpeg2000Codec,
    WebpCodec,
    AvifCodec,
    HeifCodec,
    JpegxlCodec,
)

#: name -> codec class, in the order `lbcodec codecs` lists them
CODECS: dict[str, type[Codec]] = {cls.name: cls for cls in _CLASSES}
#: fixed container id -> codec class
CODEC_BY_ID: dict[int, type[Codec]] = {cls.container_id: cls for cls in _CLASSES}
assert len(CODEC_BY_ID) == len(_CLASSES), "duplicate codec container id"
assert all((cls.own_chroma is None) == cls.has_subsampling for cls in _CLASSES), \
    "own_chroma is for the codecs without a subsampling choice"


def settings_tag(name: str) -> str:
    """The codec's ``settings_tag`` (its changed ``tune="psnr"`` settings), or "" (none, or not a codec)."""
    cls = CODECS.get(name)
    return cls.settings_tag if cls is not None else ""


def get_codec(name: str) -> Codec:
    """Return an adapter instance; ValueError for an unknown name."""
    try:
        return CODECS[name]()
    except KeyError:
        raise ValueError(f"unknown codec {name!r}; choose from {', '.join(CODECS)}") from None


__all__ = ["CODECS", "CODEC_BY_ID", "SUBSAMPLINGS", "TUNES", "Codec", "get_codec", "settings_tag"]
