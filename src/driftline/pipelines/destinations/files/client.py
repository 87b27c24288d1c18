"""fsspec filesystems for buckets; SDK errors mapped to driftline's once, here."""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from collections.abc import Iterable
from typing import Any

from driftline.config import server_environment_note
from driftline.errors import TerminalError, TransientError
from driftline.pipelines.destinations import Capabilities
from driftline.pipelines.destinations.files.config import BucketConfig
from driftline.remote import check_gcs_endpoint, hint

_TERMINAL_WORDS = (
    "accessdenied",
    "forbidden",
    "invalidaccesskey",
    "signature",
    "nosuchbucket",
    "authorization",
    "credentials",
    "403",
    "401",
)

#: local paths no retry can fix: a file where a folder must be, a name too long, a path
#: with a NUL byte (ValueError), a read-only filesystem
_TERMINAL_ERRNOS = {
    errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.EROFS, errno.ELOOP,
}  # fmt: skip


def _map_error(exc: Exception, action: str, url: str) -> Exception:
    """``exc``, raised while doing ``action`` ("cannot write") on ``url``, as a driftline
    error: terminal when retrying cannot help, with what to set when credentials are
    missing."""
    what = f"{action} {url}"
    text = f"{type(exc).__name__}: {exc}".strip()
    first = text.splitlines()[0][:300]
    todo = hint(exc, url)
    if todo is not None:  # no credentials or no region: say what to set, and where
        return TerminalError(f"{what}: {first}; {todo}" + server_environment_note("them"))
    low = first.lower().replace(" ", "")
    if (
        isinstance(exc, PermissionError | FileNotFoundError | ValueError)
        or (isinstance(exc, OSError) and exc.errno in _TERMINAL_ERRNOS)
        or any(w in low for w in _TERMINAL_WORDS)
    ):
        return TerminalError(f"{what}: {first}; check the destination URL and its credentials")
    return TransientError(f"{what}: {first}")


class FsspecBucket:
    def __init__(self, config: BucketConfig, capabilities: Capabilities) -> None:
        if config.protocol == "gcs":
            # without this gcsfs probes for hierarchical namespaces and stalls on emulators
            os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
            check_gcs_endpoint(
                f"gs://{config.root}",
                config.options.get("endpoint_url"),
                "the URL's ?endpoint_url= (or STORAGE_EMULATOR_HOST)",
            )
        import fsspec  # a core dependency

        self.capabilities = capabilities
        self.protocol = config.protocol
        self.root = config.root
        self.format = config.format
        try:
            self.fs: Any = fsspec.filesystem(
                config.protocol, skip_instance_cache=True, **config.options
            )
        except ImportError as exc:
            extra = {"s3": "s3", "gcs": "gcs", "az": "azure"}.get(config.protocol, config.protocol)
            raise TerminalError(
                f"{config.protocol} destinations need an extra: pip install 'driftline[{extra}]' ({exc})"
            ) from None
        except Exception as exc:  # the client cannot start: credentials, options
            url = f"{config.protocol}://{config.root}"
            raise _map_error(exc, "cannot open", url) from None

    def _full(self, path: str) -> str:
        return f"{self.root}/{path}" if path else self.root

    def check(self) -> None:
        """Write and remove a probe object, so that bad credentials fail at `pipeline add`."""
        probe = self._full(f".driftline-probe-{uuid.uuid4().hex}")
        try:
            if self.protocol == "file":
                os.makedirs(self.root, exist_ok=True)
            self.fs.pipe_file(probe, b"")
            self.fs.rm_file(probe)
        except Exception as exc:
            raise _map_error(exc, "cannot write to", f"{self.protocol}://{self.root}") from None

    def put(self, path: str, data: bytes) -> None:
        full = self._full(path)
        try:
            if self.protocol == "file":
                # write beside, then rename: a killed process never leaves half a file
                directory = os.path.dirname(full)
                os.makedirs(directory, exist_ok=True)
                tmp = f"{full}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
                with open(tmp, "wb") as out:
                    out.write(data)
                os.replace(tmp, full)
            else:
                self.fs.pipe_file(full, data)
        except Exception as exc:
            raise _map_error(exc, "cannot write", f"{self.protocol}://{full}") from None

    def list(self, directory: str) -> list[str]:
        """Names (not paths) of the objects directly in ``directory``; [] if it is absent."""
        full = self._full(directory)
        try:
            self.fs.invalidate_cache(full)
            entries = self.fs.ls(full, detail=False)
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise _map_error(exc, "cannot list", f"{self.protocol}://{full}") from None
        return sorted(str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries)

    def walk(self, directory: str) -> list[str]:
        """Every object under ``directory``, relative to the root."""
        full = self._full(directory)
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache()
        try:
            found = self.fs.find(full)
        except FileNotFoundError:
            return []
        prefix = self.root.rstrip("/") + "/"
        return sorted(str(p)[len(prefix) :] if str(p).startswith(prefix) else str(p) for p in found)

    def delete(self, paths: Iterable[str]) -> None:
        for path in paths:
            full = self._full(path)
            try:
                self.fs.rm_file(full)
            except FileNotFoundError:
                continue
            except Exception as exc:
                raise _map_error(exc, "cannot delete", f"{self.protocol}://{full}") from None

    def read(self, path: str) -> bytes:
        full = self._full(path)
        try:
            data: bytes = self.fs.cat_file(full)
        except Exception as exc:
            raise _map_error(exc, "cannot read", f"{self.protocol}://{full}") from None
        return data

    def close(self) -> None:
        return None
