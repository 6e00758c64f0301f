"""Atomic file writes: a reader (or a crash, or a full disk) never sees half a file."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from .errors import UserError


class WriteError(UserError):
    """A file could not be written (``path``), for the operating system's ``reason``: a full disk, a file
    larger than the process may write, no permission. The file at ``path`` is as it was before. The
    message is ``cannot write <path> (<reason>): <then>`` (what was kept, what to do); by default
    ``fix`` and a new try."""

    def __init__(self, path: Path | str, reason: str, then: str = "", errno: int | None = None):
        self.path, self.reason, self.errno = path, reason, errno
        super().__init__(f"cannot write {path} ({reason}): {then or self.fix + ', then try again'}")

    @property
    def fix(self) -> str:
        """What frees the way for a new try, in a few words, by the operating system's reason."""
        if self.errno in (errno.ENOSPC, errno.EDQUOT):
            return "free space"
        if self.errno == errno.EFBIG:
            return "raise the limit on file size (ulimit -f)"
        if self.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"make {Path(self.path).parent} writable"
        return "mend that"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def os_error(error: BaseException) -> OSError | None:
    """``error`` itself if it is an ``OSError``; else, for a ``RuntimeError`` (``torch.save`` turns a failed
    write into one that hides the ``OSError`` it was raised while handling), the ``OSError`` behind it;
    else None, so that a bug of another kind is never taken for a refused write."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError):
            return error
        if not isinstance(error, RuntimeError):
            return None
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def atomic_write(path: Path, write) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it over ``path``
    (its folder made first if it is missing).

    Raises ``WriteError`` (a ``UserError``) naming ``path`` and the reason when the operating system
    refuses any part of it, also when ``write`` fails midway: ``path`` is then left as it was, and the
    temporary file and the folders made for it are removed. Any other error of ``write`` propagates as
    it is.
    """
    tmp, made = None, [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would surprise whoever reads the run later
        os.replace(tmp, path)
    except Exception as exc:
        if (cause := os_error(exc)) is None:
            raise
        raise WriteError(path, cause.strerror or str(cause), errno=cause.errno) from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if not path.exists():  # it failed: the folders made for it go too, while empty
            for folder in made:
                try:
                    folder.rmdir()
                except OSError:
                    break
