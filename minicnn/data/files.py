"""Finding and reading a dataset's files on disk, with errors that name the file and what is wrong."""
from __future__ import annotations

import gzip
import pathlib
import zlib

GZIP_MAGIC = b"\x1f\x8b"


def find_file(folders, names, dataset: str) -> pathlib.Path:
    """The first existing folder/name, trying each folder in turn; FileNotFoundError listing where it looked."""
    tried = [pathlib.Path(folder) / name for folder in folders for name in names]
    for path in tried:
        if path.is_file():
            return path
    raise FileNotFoundError(f"{dataset}: none of these files exists: " + ", ".join(str(p) for p in tried))


def read_bytes(path: pathlib.Path, dataset: str) -> bytes:
    """The file's bytes, gunzipped when it is gzip data (whatever its name)."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise FileNotFoundError(f"{dataset}: cannot read {path}: {error.strerror or error}") from error
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{dataset}: {path} is a corrupt or truncated gzip file ({error})") from error
