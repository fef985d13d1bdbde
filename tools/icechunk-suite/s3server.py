"""Serve S3 on 127.0.0.1:PORT (moto), with the bucket Icechunk's tests expect.

Icechunk's tests that need object storage talk to a MinIO at ``localhost:4200`` with a
bucket ``testbucket``. ``run`` starts this instead (when ``S3_SERVER=moto``, the default),
so those tests run for both systems. moto accepts any credentials, so tests that expect a
read-only user to be refused fail on both.
"""

from __future__ import annotations

import sys
import time

import boto3
from moto.server import ThreadedMotoServer


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 4200
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test123",
        aws_secret_access_key="test123",
    ).create_bucket(Bucket="testbucket")
    print(f"s3 server on 127.0.0.1:{port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
