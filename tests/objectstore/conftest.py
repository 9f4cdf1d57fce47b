"""S3 tests against moto's S3 server on loopback: one server and one bucket per session.

The session fixture sets the standard AWS variables (fake credentials, a region and
`AWS_ENDPOINT_URL` pointing at the server) for as long as it lives, and puts them back after.
Each test gets its own prefix in the bucket (`s3_data_dir`), so tests never see each other.
"""

from __future__ import annotations

import logging
import uuid

import pytest

BUCKET = "bsg-analytics-test"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's S3 server on 127.0.0.1 (a free port), the AWS variables set, a bucket made."""
    import s3fs
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    empty = tmp_path_factory.mktemp("aws") / "none"  # no developer's ~/.aws is read
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                     "AWS_ENDPOINT_URL_S3", "BSG_WAREHOUSE_PATH"):  # fmt: skip
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_REGION", "us-east-1")
        mp.setenv("AWS_ENDPOINT_URL", endpoint)
        mp.setenv("AWS_CONFIG_FILE", str(empty))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)
        fs.mkdir(BUCKET)
        try:
            yield endpoint
        finally:
            fs.rm(BUCKET, recursive=True)
            s3fs.S3FileSystem.clear_instance_cache()
            server.stop()


@pytest.fixture(scope="session")
def s3_bucket(s3_server) -> str:
    """The session's bucket (it exists, and the AWS variables point at it)."""
    return BUCKET


@pytest.fixture
def s3_data_dir(s3_bucket):
    """A `DataDir` on a fresh prefix of the session's bucket."""
    from bsg_analytics.storage import DataDir

    return DataDir(f"s3://{s3_bucket}/run-{uuid.uuid4().hex[:10]}")
