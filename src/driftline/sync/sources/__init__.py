"""Warehouse sources, one package each, found by URL scheme.

Each package (``postgres``, ``redshift``, ``mysql``, ``sqlite``, ``duckdb``, ``snowflake``,
``bigquery``, ``databricks``) has the same files: ``__init__.py`` with ``CAPABILITIES`` and
``create(url)``, ``config.py`` (the URL's settings) and ``client.py`` (the only module that
imports the vendor's driver). Importing this package imports no driver.
"""

from __future__ import annotations

import os
import re
from importlib import import_module

from driftline.errors import DriftlineError, InvalidInput, TerminalError
from driftline.sync import urls
from driftline.sync.sources.base import Capabilities, Source

PACKAGES = (
    "postgres",
    "redshift",
    "mysql",
    "sqlite",
    "duckdb",
    "snowflake",
    "bigquery",
    "databricks",
)
_EXTRAS = {"postgres": "postgres", "redshift": "postgres", "mysql": "mysql",
           "snowflake": "snowflake", "bigquery": "bigquery", "databricks": "databricks"}  # fmt: skip


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _schemes() -> dict[str, str]:
    out: dict[str, str] = {}
    for package in PACKAGES:
        caps: Capabilities = import_module(f"{__name__}.{package}").CAPABILITIES
        for scheme in caps.url_schemes:
            out[scheme] = package
    return out


def package_for(url: str) -> str:
    scheme = url.partition("://")[0].lower()
    schemes = _schemes()
    if scheme not in schemes:
        raise InvalidInput(
            f"warehouse URL {urls.redact(url)}: unknown scheme {scheme!r}; use one of "
            + ", ".join(sorted(f"{s}://" for s in schemes)),
            field="url",
        )
    return schemes[scheme]


def capabilities(url: str) -> Capabilities:
    caps: Capabilities = import_module(f"{__name__}.{package_for(url)}").CAPABILITIES
    return caps


def check_url(url: str) -> Capabilities:
    """Check ``url`` without connecting: a URL that can never work (malformed, an unknown
    scheme, no host, no path) is an :class:`InvalidInput` naming ``url``. A ``${ENV}``
    reference not set in this process's environment stands for a value here; it is read
    when a connection is opened."""
    caps = capabilities(url)
    urls.parse(url, resolve=False)
    module = import_module(f"{__name__}.{package_for(url)}")
    stand_in = _ENV_REF.sub(lambda m: m.group(0) if m.group(1) in os.environ else "x", url)
    try:
        module.configure(stand_in)
    except ValueError as exc:  # a part the settings cannot use, e.g. ?port=abc
        shown = urls.scrub(str(exc), _secrets(stand_in))
        raise InvalidInput(
            f"warehouse URL {urls.redact(url)} is not valid: {shown}", field="url"
        ) from None
    return caps


def _secrets(url: str) -> list[str]:
    try:
        return urls.parse(url).secrets()
    except DriftlineError:
        return []


def open_source(url: str) -> Source:
    """Connect-ready source for ``url`` (``${ENV}`` references resolved now)."""
    package = package_for(url)
    module = import_module(f"{__name__}.{package}")
    try:
        source: Source = module.create(url)
    except ModuleNotFoundError as exc:
        extra = _EXTRAS.get(package, package)
        raise TerminalError(
            f"the {package} source needs the driver {exc.name!r}; install it with "
            f"`pip install 'driftline[{extra}]'`"
        ) from None
    return source


__all__ = [
    "PACKAGES",
    "Capabilities",
    "Source",
    "capabilities",
    "check_url",
    "open_source",
    "package_for",
]
