"""Names of post-filter models by container id, without importing torch."""

from __future__ import annotations


def post_name(post_id: int) -> str:
    if post_id == 0:
        return "none"
    try:
        from .zoo import entry_by_container_id

        entry = entry_by_container_id(post_id)
        return entry["name"] if entry else f"unknown model #{post_id}"
    except ImportError:
        return f"model #{post_id}"
