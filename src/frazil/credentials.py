"""Credentials for virtual chunk containers and storages (Icechunk's
``icechunk.credentials``): constructors and the containers they return.

Examples
--------
>>> import frazil
>>> creds = frazil.credentials.s3_static_credentials(
...     access_key_id="AKIA...", secret_access_key="..."
... )
>>> access = frazil.credentials.containers_credentials({"s3://bucket/data/": creds})
"""

from __future__ import annotations

from frazil._config import (
    AnyCredential,
    AnyS3Credential,
    Credentials,
    HttpAccess,
    LocalFileSystemAccess,
    S3Credentials,
    S3StaticCredentials,
    containers_credentials,
    s3_anonymous_credentials,
    s3_credentials,
    s3_from_env_credentials,
    s3_refreshable_credentials,
    s3_static_credentials,
)

__all__ = [
    "AnyCredential",
    "AnyS3Credential",
    "Credentials",
    "HttpAccess",
    "LocalFileSystemAccess",
    "S3Credentials",
    "S3StaticCredentials",
    "containers_credentials",
    "s3_anonymous_credentials",
    "s3_credentials",
    "s3_from_env_credentials",
    "s3_refreshable_credentials",
    "s3_static_credentials",
]
