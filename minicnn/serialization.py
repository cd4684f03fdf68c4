"""Saving and loading checkpoints: nested dicts of arrays, written atomically.

A checkpoint is a NumPy .npz archive (no pickle, so loading one cannot run code). The arrays are
stored under generated names (arr_0, arr_1, ...) and the nesting, the real keys (str or int, any
characters) and the plain values (numbers, strings, None) live in one JSON layout record, so no
two keys can collide whatever they contain.

The file is written to a hidden temporary file beside the target, `.{name}.minicnn-tmp-{host}-
{pid}-{token}`, flushed to disk, then renamed over the target: an interrupted save (an exception,
a full disk, kill -9) leaves the previous checkpoint intact. A temporary file left by a killed
process is removed by the next save to the same path.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import stat
import time
import zipfile
import zlib

import numpy as np

from .tensor import Tensor

_LAYOUT = "__minicnn_layout__"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first local header; an empty zip
_NPY_MAGIC = b"\x93NUMPY"
_STALE_AFTER = 3600.0  # seconds: a temporary file this old is abandoned even if its pid lives on


def save(obj, path) -> None:
    """Write `obj` (a dict, possibly nested, of arrays, Tensors, numbers, strings, lists, tuples;
    dict keys str or int) to `path`, replacing it atomically.

    Like np.save: the new file follows the umask (or keeps the mode of the file it replaces), a
    file you may not write raises PermissionError, and a symlink is written through (its target is
    replaced, the link stays). OS errors name `path`.
    """
    arrays = []
    layout = _flatten(obj, "", arrays)
    members = {f"arr_{i}": array for i, array in enumerate(arrays)}
    members[_LAYOUT] = np.frombuffer(json.dumps(layout).encode(), dtype=np.uint8)

    path = _path("save", path)
    target = os.path.realpath(path) if os.path.islink(path) else path
    folder, name = os.path.split(target)
    folder = folder or os.curdir
    _remove_stale_temporaries(folder, name)
    try:
        mode = _mode_for(target)
        temporary = os.path.join(folder, f".{name}.minicnn-tmp-{socket.gethostname()}-{os.getpid()}-"
                                         f"{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise _naming(error, "save", path) from None
    try:
        if mode is not None:
            os.chmod(temporary, mode)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **members)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
        _fsync_folder(folder)
    except BaseException as error:
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise _naming(error, "save", path) from error
        raise


def load(path):
    """Read back what `save` wrote: the same nesting, keys and values, arrays as np.ndarray.

    A missing or unreadable path raises the OS error (FileNotFoundError, IsADirectoryError,
    PermissionError) naming it; a file that is not a minicnn checkpoint, or is damaged, raises
    ValueError naming the path and what is wrong.
    """
    path = _path("load", path)
    try:
        f = open(path, "rb")
    except OSError as error:
        raise _naming(error, "load", path) from None
    with f:
        magic = f.read(len(_NPY_MAGIC))
        if not magic.startswith(_ZIP_MAGIC):
            raise ValueError(f"load: {path!r} is not a minicnn checkpoint: {_describe(magic)}")
        f.seek(0)
        try:
            with np.load(f, allow_pickle=False) as archive:
                if _LAYOUT not in archive.files:
                    raise _NotACheckpoint("a .npz archive without minicnn's layout record (written by "
                                          "numpy.savez? read it with numpy.load)")
                layout = json.loads(archive[_LAYOUT].tobytes().decode())
                return _unflatten(layout, archive)
        except _NotACheckpoint as error:
            raise ValueError(f"load: {path!r} is not a minicnn checkpoint: {error}") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, KeyError, TypeError,
                NotImplementedError) as error:
            # A truncated or corrupted archive fails deep inside zipfile, zlib or numpy.lib.format.
            raise ValueError(f"load: {path!r} is damaged: {type(error).__name__}: {error}") from error


class _NotACheckpoint(Exception):
    """A readable file that was never a minicnn checkpoint (as opposed to a damaged one)."""


def _flatten(obj, where, arrays):
    """Return the JSON layout of obj, appending its arrays to `arrays` (referenced by position)."""
    if isinstance(obj, dict):
        for key in obj:
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be str or int, got {type(key).__name__} {key!r}"
                                f"{f' (at {where!r})' if where else ''}")
        return {"dict": [[k, isinstance(k, int), _flatten(v, f"{where}[{k!r}]", arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {type(obj).__name__: [_flatten(v, f"{where}[{i}]", arrays) for i, v in enumerate(obj)]}
    if isinstance(obj, Tensor):
        obj = obj.array
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError(f"save: object arrays cannot be saved (at {where!r})")
        arrays.append(obj)
        return {"array": f"arr_{len(arrays) - 1}"}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, np.generic):
        return {"value": obj.item()}
    raise TypeError(f"save: cannot save a {type(obj).__name__} (at {where!r})")


def _unflatten(layout, archive):
    """Rebuild what `_flatten` described. Checkpoints written before the arrays got generated
    names (their layout names the flattened key) read the same way."""
    if not isinstance(layout, dict) or len(layout) != 1:
        raise ValueError(f"malformed layout entry {str(layout)[:80]}")
    (kind, content), = layout.items()
    if kind == "dict":
        return {(int(k) if is_int else k): _unflatten(v, archive) for k, is_int, v in content}
    if kind in ("list", "tuple"):
        items = [_unflatten(v, archive) for v in content]
        return items if kind == "list" else tuple(items)
    if kind == "array":
        if content not in archive.files:
            raise ValueError(f"the layout refers to an array {content!r} that the archive lacks")
        return archive[content]
    if kind == "value":
        return content
    raise ValueError(f"malformed layout entry of kind {kind!r}")


def _path(op, path) -> str:
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"{op}: path must be a str or os.PathLike, got {type(path).__name__}") from None


def _naming(error: OSError, op: str, path: str) -> OSError:
    """The same kind of OS error, naming `op` and the path the caller gave (not a temporary)."""
    if error.errno is None:
        return OSError(f"{op}: {path!r}: {error}")
    return type(error)(error.errno, f"{op}: {error.strerror}", path)


def _describe(magic: bytes) -> str:
    if not magic:
        return "the file is empty"
    if magic.startswith(_NPY_MAGIC):
        return "it is a single .npy array (numpy.save); read it with numpy.load"
    return f"it is not a .npz (zip) archive (it starts with {magic!r})"


def _mode_for(target: str):
    """The permission bits to give the new file: the replaced file's, or None (os.open's 0o666
    minus the umask) for a new one. Raises what np.save would for a file it cannot write."""
    try:
        fd = os.open(target, os.O_WRONLY)  # no O_TRUNC: only asks whether we may write it
    except FileNotFoundError:
        return None
    os.close(fd)
    return stat.S_IMODE(os.stat(target).st_mode)


def _remove_stale_temporaries(folder: str, name: str) -> None:
    """Delete the temporary files of earlier saves to `name` that were killed mid-write: those of
    a process on this host that no longer runs, or older than _STALE_AFTER. Only this pattern."""
    pattern = re.compile(rf"\.{re.escape(name)}\.minicnn-tmp-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{{8}}")
    try:
        entries = os.listdir(folder)
    except OSError:
        return  # the save itself reports an unusable folder
    host = socket.gethostname()
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match is None:
            continue
        temporary = os.path.join(folder, entry)
        try:
            age = time.time() - os.lstat(temporary).st_mtime
            if age > _STALE_AFTER or (match["host"] == host and not _running(int(match["pid"]))):
                os.unlink(temporary)
        except OSError:
            pass  # already removed by another process, or not ours to remove


def _running(pid: int) -> bool:
    if os.name != "posix":
        return True  # no harmless liveness probe (os.kill would terminate it): rely on age
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable (POSIX); elsewhere a no-op."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
