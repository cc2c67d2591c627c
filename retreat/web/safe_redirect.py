import unicodedata
from urllib.parse import urlsplit


def safe_next(target: str | None) -> str | None:
    """A `next` URL only if it is a plain path on this site, else None: no scheme or host, no backslash, and no
    control, format or whitespace character anywhere (a CR or LF would otherwise reach the Location header)."""
    if not target or len(target) > 2000:
        return None
    if any(char.isspace() or unicodedata.category(char).startswith(("C", "Z")) for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
