"""Files the commands write that hold secrets or personal data."""

from __future__ import annotations

import os
from pathlib import Path


def private_file_create(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path``, which must not exist yet, readable by its owner only.

    Raises ``FileExistsError`` rather than replace a file, and ``OSError`` when the file
    cannot be made; the caller says which in its own words."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding=encoding) as out:
        out.write(text)
