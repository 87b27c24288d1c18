"""Errors from reading buckets and streams, as one line that says what to set.

The storage libraries (botocore, gcsfs and google-auth, adlfs and the Azure SDK, aiohttp) each
fail in their own words when credentials, a region or the network are missing. Their errors
are recognised here by class name and message, so that none of those libraries has to be
installed for this module to load, and become a :class:`~driftline.errors.TerminalError` (the
same run will fail again until something is set) or a
:class:`~driftline.errors.TransientError` (the network may come back), naming the source.
Imports of Snowplow data (:func:`explain`) and bucket exports (:func:`hint`) use it.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from driftline.errors import DriftlineError, TerminalError, TransientError

#: what to set, by URL scheme, when a library found no credentials
CREDENTIALS = {
    "s3": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE); for "
    "S3-compatible storage also AWS_ENDPOINT_URL_S3",
    "kinesis": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE); for "
    "a local Kinesis add ?endpoint_url=http://host:port to the URL",
    "gs": "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or "
    "FSSPEC_GS_TOKEN=anon for a public bucket; for an emulator STORAGE_EMULATOR_HOST",
    "az": "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with "
    "AZURE_STORAGE_ACCOUNT_KEY",
}

#: where the endpoint of a service that is not the cloud's own (an emulator, MinIO) is set
ENDPOINTS = {
    "s3": "AWS_ENDPOINT_URL_S3",
    "kinesis": "the URL's ?endpoint_url=",
    "gs": "STORAGE_EMULATOR_HOST",
    "az": "the BlobEndpoint of AZURE_STORAGE_CONNECTION_STRING",
}

_NO_CREDENTIALS = (
    "NoCredentialsError",  # botocore
    "PartialCredentialsError",
    "DefaultCredentialsError",  # google-auth
    "RefreshError",
    "ClientAuthenticationError",  # azure-core
)
_DENIED_WORDS = (
    "accessdenied",
    "forbidden",
    "invalidaccesskeyid",
    "signaturedoesnotmatch",
    "authorizationfailure",
    "authenticationfailed",
    "unrecognizedclient",
    "invalidclienttokenid",
    "expiredtoken",
    "securitytoken",
    "401",
    "403",
)
_UNREACHABLE = (
    "EndpointConnectionError",  # botocore
    "ConnectTimeoutError",
    "ClientConnectorError",  # aiohttp (and its DNS subclass)
    "ClientConnectorDNSError",
    "ServerDisconnectedError",
    "ServiceRequestError",  # azure-core
    "ConnectionError",
    "TimeoutError",
)


def scheme_of(url: str) -> str:
    scheme = url.split("://", 1)[0].lower() if "://" in url else "file"
    return {"gcs": "gs", "abfs": "az", "az": "az"}.get(scheme, scheme)


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def hint(exc: BaseException, url: str) -> str | None:
    """What to set when ``exc`` says that credentials or a region are missing; else None."""
    scheme = scheme_of(url)
    names = _names(exc)
    low = str(exc).lower().replace(" ", "")
    if names & set(_NO_CREDENTIALS) or (
        scheme == "az" and "connection_string" in low and "account_name" in low
    ):
        return CREDENTIALS.get(scheme, "check the URL and its credentials")
    if "NoRegionError" in names:
        return "add ?region=eu-west-1 (yours) to the URL or set AWS_DEFAULT_REGION"
    return None


def explain(exc: BaseException, url: str) -> DriftlineError:
    """``exc``, raised while reading ``url``, as a one-line driftline error."""
    if isinstance(exc, DriftlineError):
        return exc
    scheme = scheme_of(url)
    credentials = CREDENTIALS.get(scheme, "check the URL and its credentials")
    text = str(exc).strip()
    first = text.splitlines()[0][:300] if text else type(exc).__name__
    names = _names(exc)
    low = first.lower().replace(" ", "")
    todo = hint(exc, url)
    if todo is not None:
        missing = "no AWS region" if "NoRegionError" in names else "no credentials were found"
        return TerminalError(f"{url}: {missing}: {todo}")
    if isinstance(exc, PermissionError) or any(w in low for w in _DENIED_WORDS):
        return TerminalError(f"{url}: access denied ({first}): {credentials}")
    if "nosuchbucket" in low or "containernotfound" in low or "bucketnotfound" in low:
        return TerminalError(f"{url}: the bucket or container does not exist ({first})")
    if names & set(_UNREACHABLE) or (isinstance(exc, OSError) and "connect" in low):
        endpoint = ENDPOINTS.get(scheme)
        return TransientError(
            f"{url}: cannot connect ({first}); check the network"
            + (f", and {endpoint} if the service is not the cloud's own" if endpoint else "")
        )
    return TransientError(f"{url}: {type(exc).__name__}: {first}")


#: Google Cloud Storage's own endpoint, where no emulator or endpoint_url is set
GCS_ENDPOINT = "https://storage.googleapis.com"


def check_gcs_endpoint(
    url: str, endpoint: str | None = None, set_in: str = ENDPOINTS["gs"], timeout: float = 5.0
) -> None:
    """Fail at once, with one line, when the Cloud Storage endpoint for ``url`` does not take
    a connection. gcsfs retries each call six times with growing pauses (about a minute in
    all) and has no setting for it; a refused or silent endpoint (a mistyped
    STORAGE_EMULATOR_HOST, an emulator not started, no network) is found here in at most
    ``timeout`` seconds instead; the error says to look at ``set_in``."""
    where = endpoint or os.environ.get("STORAGE_EMULATOR_HOST") or GCS_ENDPOINT
    parts = urlsplit(where if "://" in where else f"http://{where}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TransientError(
            f"{url}: cannot connect to {where} ({reason}); check the network, and {set_in} "
            "if the service is not the cloud's own"
        ) from None
