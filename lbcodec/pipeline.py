"""Frozen descriptions of a coding pipeline and the fixed ids that name them in a container.

A pipeline is *pre-filter -> standard encoder -> container* at encode time and
*container -> standard decoder -> upsampling -> post-filter* at decode time.
Every id below is part of the .lbc format (docs/format.md): ids are fixed
integers, never derived from an ordering, and are never reused.
"""

from __future__ import annotations

from dataclasses import dataclass

#: pre-method name -> fixed container id
METHOD_IDS: dict[str, int] = {"none": 0, "downsample": 1, "comcnn": 2, "modifynet": 3}
METHOD_BY_ID: dict[int, str] = {v: k for k, v in METHOD_IDS.items()}
METHODS = tuple(METHOD_IDS)

#: methods whose compact image is smaller than the original (the decoder upsamples)
RESIZING_METHODS = ("downsample", "comcnn")
#: encode's choice among the methods per image (``api.encode_image``); never in a container,
#: whose header names the method that won
AUTO_METHOD = "auto"
#: what ``encode`` and ``bench`` take as a method, and those of them that take a scale
ENCODE_METHODS = (*METHODS, AUTO_METHOD)
SCALED_METHODS = (*RESIZING_METHODS, AUTO_METHOD)
SCALES = (1, 2, 3, 4)

#: container id of "no post-filter" (bicubic upsampling only, where the method resizes)
POST_NONE_ID = 0

#: flags byte, bit 0: chroma 4:4:4 was requested
FLAG_444 = 0x01


@dataclass(frozen=True)
class Pipeline:
    """What a .lbc file says about how it was made.

    Attributes:
        method: pre-method name (``none``, ``downsample``, ``comcnn``, ``modifynet``).
        scale: downsampling factor of the compact image (1 for ``none``/``modifynet``).
        codec: standard codec name.
        quality: quality on lbcodec's 0-100 scale (stored to 0.01).
        subsampling: chroma subsampling that was requested, ``420`` or ``444``.
        post_id: container id of the decoder's post-filter model, 0 for none.
        post_hash: first 4 bytes of that model's weights' sha256 (empty when post_id is 0).
    """

    method: str
    scale: int
    codec: str
    quality: float
    subsampling: str = "420"
    post_id: int = POST_NONE_ID
    post_hash: bytes = b""

    def __post_init__(self) -> None:
        if self.method not in METHOD_IDS:
            raise ValueError(f"unknown method {self.method!r}")
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale}")
        if self.method in RESIZING_METHODS and self.scale == 1:
            raise ValueError(f"method {self.method!r} needs a scale of 2 or more")
        if self.method not in RESIZING_METHODS and self.scale != 1:
            raise ValueError(f"method {self.method!r} does not resize: scale must be 1")
        if not 0.0 <= self.quality <= 100.0:
            raise ValueError(f"quality must be within [0, 100], got {self.quality}")
        if self.subsampling not in ("420", "444"):
            raise ValueError(f"subsampling must be 420 or 444, got {self.subsampling!r}")
        if not 0 <= self.post_id <= 255:
            raise ValueError(f"post-filter id must fit a byte, got {self.post_id}")
        if (self.post_id == POST_NONE_ID) != (len(self.post_hash) == 0) or len(self.post_hash) not in (0, 4):
            raise ValueError("a post-filter id needs exactly a 4-byte hash prefix, and none without")


def compact_size(width: int, height: int, scale: int) -> tuple[int, int]:
    """Size (w, h) of the compact image for a resizing method: ceil of each side / scale."""
    return -(-width // scale), -(-height // scale)
