"""Writing output files whole or not at all.

Every file webbcal writes (products, plots, light curves, parameter files) goes through
:func:`atomic_write`: the content is written to a temporary file in the destination
folder and renamed over the destination only once complete, with the permissions an
ordinary ``open()`` would give (``0666`` less the umask).  Whatever goes wrong -- a
read-only or missing folder, a full disk, a name too long, an output path naming a
folder or one of the inputs -- nothing partial is left, and the caller gets one
:class:`~webbcal.errors.OutputError` sentence naming the path.
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from ..errors import OutputError


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output_path(path, inputs=()):
    """Raise :class:`OutputError` unless ``path`` can be a new or replaced regular file
    that is none of ``inputs``."""
    path = Path(path)
    for src in inputs:
        if src is None:
            continue
        try:
            if Path(src).exists() and path.exists() and os.path.samefile(src, path):
                raise OutputError(path, "is an input of this command: refusing to overwrite it "
                                        "(choose another output name)")
        except OSError:
            continue
    if path.is_dir():
        raise OutputError(path, "is a folder; give a file name for the output")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise OutputError(path, f"cannot be written: {parent} is a file, not a folder")


def atomic_write(path, write, inputs=(), make_parents=True):
    """Call ``write(tmp_path)`` and move the result to ``path`` in one rename.

    ``inputs`` are files the output must never replace.  ``OSError`` (permissions, full
    disk, name too long, ...) becomes :class:`OutputError`; no temporary file is left.
    """
    path = Path(path)
    check_output_path(path, inputs)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        if make_parents:
            parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise OutputError(path, _reason(exc)) from None
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; products get the usual mode
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise OutputError(path, _reason(exc)) from None
    except BaseException:
        _unlink(tmp)
        raise
    return path


def _unlink(tmp):
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _reason(exc):
    if exc.errno == errno.ENOSPC:
        return "cannot be written: no space left on the device (nothing was written)"
    if exc.errno == errno.ENAMETOOLONG:
        return "cannot be written: the file name is too long for the file system"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "cannot be written: permission denied (read-only folder or file system?)"
    return f"cannot be written: {exc.strerror or exc}"
