"""Files and folders private to the user who runs the platform (0700 folders, 0600 files).

The data directory holds task inputs, answers, reports and API keys, so nothing in it is
readable by other users, whatever the process's umask. Modes are set explicitly on what
is created (`mkdir`/`open` modes are masked by the umask, and `mkdir(parents=True)` ignores
the mode for parents); the process umask is left alone, because it is shared with every
library in the process. Folders that already exist are not changed (the user's home,
a folder the user chose on purpose).

It lives in `lambda_tools` because the tools' local report store uses it too, and the
Lambda bundle holds only this package.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: str | Path) -> Path:
    """Create `path` and its missing parents as 0700 folders; existing folders are left as they are."""
    path = Path(path)
    missing: list[Path] = []
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            break
        missing.append(candidate)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            os.mkdir(folder, PRIVATE_DIR_MODE)
            os.chmod(folder, PRIVATE_DIR_MODE)  # the umask may have taken bits away: put them back
    return path


def private_file(path: str | Path) -> Path:
    """Make sure the file exists and is 0600 (created empty when missing; an existing file of
    ours is tightened, e.g. a database created by an older version)."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return path


def write_private_text(path: str | Path, text: str, *, exclusive: bool = False) -> None:
    """Write `text` (UTF-8) to a 0600 file; with `exclusive`, `FileExistsError` if it exists."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        handle.write(text)


def make_private_tree(root: str | Path) -> None:
    """Make a folder we built (e.g. a staging folder) and everything in it private."""
    root = Path(root)
    os.chmod(root, PRIVATE_DIR_MODE)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), PRIVATE_DIR_MODE)
        for name in files:
            os.chmod(os.path.join(folder, name), PRIVATE_FILE_MODE)
