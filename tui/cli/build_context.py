"""The build context ``plat deploy`` uploads: checked to be what the user meant, then tarred.

A manifest names its context and dockerfile relative to its own directory; resolved (symlinks
too) they must stay inside it, so a manifest from elsewhere cannot make ``plat deploy`` upload
``/etc`` or a home directory to the daemon. The context is also bounded in size before any
byte is read, and only directories, regular files and symlinks (as links) go into the tar:
devices, FIFOs and sockets are left out rather than read.
"""

from __future__ import annotations

import os
import stat

from platd.spec.errors import InvalidInput
from platd.spec.input_limits import MAX_BUILD_CONTEXT, MAX_BUILD_FILES

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    import tarfile
    from pathlib import Path

MIB = 1024 * 1024


def manifest_context(manifest_dir: Path, context: str, dockerfile: str, manifest: str,
                     workload: str) -> Path:
    """The context directory a manifest names, refused if it leaves the manifest's directory
    or its dockerfile leaves the context."""
    base = manifest_dir.resolve()
    folder = (manifest_dir / context).resolve()
    where = f"workloads.{workload}.build"
    if not folder.is_relative_to(base):
        raise InvalidInput(
            f"{manifest}: {where}.context {context!r} is {folder}, outside the manifest's "
            f"directory {base}",
            hint=["a build context must be inside the directory of plat.toml; move the "
                  "manifest next to what it builds",
                  "or build from an explicit directory: plat deploy --build DIR"],
        )
    check_dockerfile(folder, dockerfile, f"{manifest}: {where}.dockerfile")
    return folder


def check_dockerfile(folder: Path, dockerfile: str, where: str) -> None:
    """The dockerfile must be a regular file inside ``folder`` (symlinks resolved)."""
    path = (folder / dockerfile).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise InvalidInput(
            f"{where} {dockerfile!r} is {path}, outside the build context {folder}",
            hint="name a dockerfile inside the build context (the builder only sees the context)",
        )
    if not path.is_file():
        raise InvalidInput(
            f"{where}: there is no file {dockerfile!r} in the build context {folder}",
            hint="add a Dockerfile to the context, or name yours with dockerfile = \"PATH\"",
        )


def tar_context(folder: Path) -> bytes:
    """An uncompressed tar of ``folder``, at most ``MAX_BUILD_CONTEXT`` bytes of files."""
    import io
    import tarfile

    if not folder.is_dir():
        raise InvalidInput(f"the build context {folder} is not a directory",
                           hint="pass a directory with a Dockerfile: plat deploy --build DIR")
    _measure(folder)
    buf = io.BytesIO()
    try:
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(folder, arcname=".", filter=_only_plain)
    except OSError as e:
        raise InvalidInput(
            f"cannot read {e.filename or folder} in the build context: {e.strerror}",
            hint="a build context holds only files you can read; leave others out of it",
        ) from None
    if buf.tell() > MAX_BUILD_CONTEXT:  # files grew while being read
        raise _too_large(folder)
    return buf.getvalue()


def _only_plain(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return info if info.isdir() or info.isfile() or info.issym() else None


def _measure(folder: Path) -> None:
    """Refuse a context over the limits before reading any file of it."""
    size = files = 0
    for root, dirs, names in os.walk(folder, onerror=_unreadable):
        files += len(dirs) + len(names)
        for name in names:
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue  # gone meanwhile; tar reports what it cannot read
            if stat.S_ISREG(info.st_mode):
                size += info.st_size
        if size > MAX_BUILD_CONTEXT:
            raise _too_large(folder)
        if files > MAX_BUILD_FILES:
            raise InvalidInput(
                f"the build context {folder} holds more than {MAX_BUILD_FILES} files",
                hint="build from a directory that holds only what the image needs",
            )


def _unreadable(error: OSError) -> None:
    raise InvalidInput(
        f"cannot read {error.filename} in the build context: {error.strerror}",
        hint="a build context holds only files you can read; leave others out of it",
    )


def _too_large(folder: Path) -> InvalidInput:
    return InvalidInput(
        f"the build context {folder} is larger than {MAX_BUILD_CONTEXT // MIB} MiB",
        hint="build from a directory that holds only what the image needs",
    )
