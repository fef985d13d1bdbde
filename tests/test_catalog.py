"""The catalog (frazil.Client): one module, run against a real SQLite file and a real
PostgreSQL server (the ``catalog_url`` fixture's two params)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import inspect
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import time
import uuid

import numpy as np
import pytest
import sqlalchemy as sa
import zarr

import frazil
from _pg import running_server  # tests/_pg.py (pytest puts tests/ on sys.path)
from frazil.catalog import AsyncClient, Client, RepoStatus, register_credential_provider

SRC = str(pathlib.Path(frazil.__file__).parent.parent)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (skipped without one; failed in CI)."""
    yield from running_server()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request, tmp_path, monkeypatch):
    """An empty catalog database of each kind; repositories without a bucket config go to
    a temp data directory."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("FRAZIL_CATALOG", raising=False)
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return request.getfixturevalue("postgres_server").new_database()


@pytest.fixture
def client(catalog_url):
    with Client(catalog_url) as c:
        yield c


@pytest.fixture
def files(tmp_path):
    """A directory for a file:// bucket config."""
    path = tmp_path / "bucket"
    path.mkdir()
    return path


def write_array(repo, values, *, message="write x"):
    session = repo.writable_session("main")
    array = zarr.create_array(
        session.store, name="x", shape=values.shape, dtype=values.dtype, chunks=(2,), overwrite=True
    )
    array[:] = values
    return session.commit(message)


def read_array(repo):
    return zarr.open_array(repo.readonly_session(branch="main").store, path="x")[:]


def tree(path: pathlib.Path) -> dict[str, bytes]:
    """Every file under ``path`` and its bytes."""
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def run_python(code: str, env: dict[str, str], *, timeout: float = 180) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**env, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


# ---------------------------------------------------------------------------- acceptance
def test_default_client_in_a_fresh_home_works_across_processes(catalog_url, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
    }
    if catalog_url.startswith("postgresql"):
        env["FRAZIL_CATALOG"] = catalog_url  # the team set-up: the URL from the environment
    run_python(
        """
        import numpy as np, zarr, frazil
        repo = frazil.Client().create_repo("acme/temps")
        session = repo.writable_session("main")
        zarr.create_array(session.store, name="x", shape=(6,), dtype="f8", chunks=(2,))[:] = (
            np.arange(6) * 1.5
        )
        print(session.commit("six values"))
        """,
        env,
    )
    out = run_python(
        """
        import json, zarr, frazil
        client = frazil.Client()
        repo = client.get_repo("acme/temps")
        x = zarr.open_array(repo.readonly_session(branch="main").store, path="x")[:]
        print(json.dumps({"x": x.tolist(), "names": [r.full_name for r in client],
                          "log": [s.message for s in repo.ancestry(branch="main")]}))
        """,
        env,
    )
    got = json.loads(out)
    assert got["x"] == [0.0, 1.5, 3.0, 4.5, 6.0, 7.5]
    assert got["names"] == ["acme/temps"]
    assert got["log"] == ["six values", "Repository initialized"]
    if catalog_url.startswith("sqlite"):
        catalog = home / ".local" / "share" / "frazil" / "catalog.db"
        assert catalog.is_file()
        assert (catalog.parent / "repos" / "acme" / "temps" / "repo").is_file()


def test_repository_lifecycle(client):
    repo = client.create_repo(
        "acme/temps", description="daily temperatures", metadata={"team": "ocean", "n": 3}
    )
    write_array(repo, np.arange(8, dtype="i4"))
    client.create_repo("acme/winds", metadata={"team": "air"})
    client.create_repo("beta.org/temps")

    entry = client.get_repo_object("acme/temps")
    assert (entry.org, entry.name, entry.full_name) == ("acme", "temps", "acme/temps")
    assert entry.description == "daily temperatures"
    assert entry.metadata == {"team": "ocean", "n": 3}
    assert entry.status is RepoStatus.ONLINE
    assert entry.prefix == "acme/temps"
    assert entry.bucket_config_nickname is None
    assert entry.created.tzinfo is not None

    assert [r.name for r in client.list_repos("acme")] == ["temps", "winds"]
    assert [r.name for r in client.list_repos("acme", filter_metadata={"team": "air"})] == ["winds"]
    assert client.list_repos("nobody") == []
    assert [r.full_name for r in client] == ["acme/temps", "acme/winds", "beta.org/temps"]

    np.testing.assert_array_equal(read_array(client.get_repo("acme/temps")), np.arange(8))

    updated = client.update_repo("acme/temps", description="new", metadata={"team": "land"})
    assert (updated.description, updated.metadata) == ("new", {"team": "land"})
    assert updated.updated >= entry.updated

    for status in ("read-only", "archived"):
        client.update_repo("acme/temps", status=status)
        repo = client.get_repo("acme/temps")
        assert repo.read_only
        with pytest.raises(frazil.ReadOnlyError, match=status):
            repo.writable_session("main")
        np.testing.assert_array_equal(read_array(repo), np.arange(8))  # reads still work
    client.update_repo("acme/temps", status="online")
    write_array(client.get_repo("acme/temps"), np.ones(8, dtype="i4"), message="ones")
    assert client.get_repo("acme/temps", read_only=True).read_only
    with pytest.raises(frazil.InvalidInputError, match="status"):
        client.update_repo("acme/temps", status="deleting")


def test_get_or_create_repo(client, files):
    first = client.get_or_create_repo("acme/temps", description="made")
    write_array(first, np.arange(4, dtype="i2"))
    again = client.get_or_create_repo("acme/temps", description="ignored")
    np.testing.assert_array_equal(read_array(again), np.arange(4))
    assert client.get_repo_object("acme/temps").description == "made"
    # an occupied location is not "someone else created it": the error stands
    client.create_bucket_config(org="acme", nickname="disk", uri=files.as_uri())
    (files / "taken").mkdir()
    (files / "taken" / "x").write_bytes(b"x")
    with pytest.raises(frazil.AlreadyExistsError, match="not an empty directory"):
        client.get_or_create_repo("acme/x", bucket_config_nickname="disk", prefix="taken")
    assert [r.name for r in client.list_repos("acme")] == ["temps"]


@pytest.mark.slow
def test_get_or_create_repo_from_racing_processes(catalog_url, tmp_path):
    code = """
        import sys, frazil
        repo = frazil.Client(sys.argv[1]).get_or_create_repo("acme/shared")
        print(repo.repo_id)
    """
    env = {**os.environ, "PYTHONPATH": SRC, "XDG_DATA_HOME": str(tmp_path / "data")}
    Client(catalog_url).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), catalog_url],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    ids = set()
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        ids.add(out.strip())
    assert len(ids) == 1  # one repository, opened by all
    with Client(catalog_url) as client:
        assert [r.full_name for r in client] == ["acme/shared"]
        assert client.get_repo("acme/shared").repo_id in ids


def test_creating_over_a_name_or_nonempty_prefix_is_refused(client, files):
    client.create_bucket_config(org="acme", nickname="disk", uri=files.as_uri())
    client.create_repo("acme/temps", bucket_config_nickname="disk")
    with pytest.raises(frazil.AlreadyExistsError, match="already exists"):
        client.create_repo("acme/temps")
    (files / "stray").mkdir()
    (files / "stray" / "data.bin").write_bytes(b"someone else's")
    with pytest.raises(frazil.AlreadyExistsError, match="not an empty directory"):
        client.create_repo("acme/other", bucket_config_nickname="disk", prefix="stray")
    assert (files / "stray" / "data.bin").read_bytes() == b"someone else's"
    (files / "hidden").mkdir()
    (files / "hidden" / ".keep").write_bytes(b"a hidden file is something too")
    (files / "afile").write_bytes(b"a file where the repository would go")
    for prefix in ("hidden", "afile"):
        with pytest.raises(frazil.AlreadyExistsError, match="already exists"):
            client.create_repo("acme/other", bucket_config_nickname="disk", prefix=prefix)
    assert (files / "hidden" / ".keep").is_file()
    assert (files / "afile").read_bytes() == b"a file where the repository would go"
    # overlapping another repository's prefix, from above or below
    with pytest.raises(frazil.AlreadyExistsError, match="overlaps"):
        client.create_repo("acme/inner", bucket_config_nickname="disk", prefix="acme/temps/x")
    with pytest.raises(frazil.AlreadyExistsError, match="overlaps"):
        client.create_repo("acme/outer", bucket_config_nickname="disk", prefix="acme")
    assert [r.name for r in client.list_repos("acme")] == ["temps"]


BAD_NAMES = [
    "acme",
    "acme/",
    "/temps",
    "acme//temps",
    "acme/te/mps",
    "acme/..",
    "acme/a..b",
    "../temps",
    "acme/temps\n",
    "acme/te\x00mps",
    "acme/Temps",
    "acme/-temps",
    "acme/temps.",
    "a" * 65 + "/temps",
    "",
    None,
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_repository_names_change_nothing(client, tmp_path, name):
    with pytest.raises(frazil.InvalidInputError) as info:
        client.create_repo(name)
    assert info.value.kind == frazil.ErrorKind.INVALID_REPO_NAME
    assert repr(name) in str(info.value) or name is None
    with pytest.raises(frazil.InvalidInputError):
        client.get_repo(name)
    with pytest.raises(frazil.InvalidInputError):
        client.delete_repo(name, imsure=True, imreallysure=True)
    assert list(client) == []
    assert not (tmp_path / "data" / "frazil" / "repos").exists()  # postgresql's default root
    assert not (tmp_path / "repos").exists()  # sqlite's default root


def test_bad_input_is_refused_before_anything_is_written(client, files):
    with pytest.raises(frazil.NotFoundError, match="no bucket config 'nope'"):
        client.create_repo("acme/temps", bucket_config_nickname="nope")
    with pytest.raises(frazil.InvalidInputError, match="unknown storage URL scheme 'ftp'"):
        client.create_bucket_config(org="acme", nickname="x", uri="ftp://host/dir")
    with pytest.raises(frazil.InvalidInputError, match="absolute path"):
        client.create_bucket_config(org="acme", nickname="x", uri="file://relative/dir")
    with pytest.raises(frazil.InvalidInputError, match="prefix"):
        client.create_repo("acme/temps", prefix="a/../b")
    with pytest.raises(frazil.InvalidInputError, match="metadata"):
        client.create_repo("acme/temps", metadata={"x": object()})
    with pytest.raises(frazil.InvalidInputError, match="not an option"):
        client.create_bucket_config(
            org="acme", nickname="x", uri="s3://b", extra_config={"colour": "red"}
        )
    with pytest.raises(frazil.InvalidInputError, match="allow_http"):
        client.create_bucket_config(
            org="acme", nickname="x", uri="s3://b", extra_config={"endpoint_url": "http://h"}
        )
    with pytest.raises(frazil.InvalidInputError, match="method"):
        client.create_bucket_config(
            org="acme", nickname="x", uri="s3://b", auth_config={"method": "telepathy"}
        )
    with pytest.raises(frazil.NotFoundError):
        client.get_repo("acme/temps")
    with pytest.raises(frazil.RepositoryNotFoundError):
        client.delete_repo("acme/temps", imsure=True, imreallysure=True)
    assert list(client) == []
    assert client.list_bucket_configs("acme") == []


@pytest.mark.parametrize(
    ("auth", "extra"),
    [
        ({"method": "from_env", "secret_access_key": "abc"}, None),
        ({"method": "anonymous", "access_key_id": "AKIA"}, None),
        ({"method": "provider", "name": "p", "password": "pw"}, None),
        ({"method": "from_env", "token": "t"}, None),
        (None, {"secret_access_key": "abc"}),
        (None, {"session_token": "abc"}),
    ],
)
def test_secrets_are_refused_with_where_they_go(client, auth, extra):
    with pytest.raises(frazil.InvalidInputError) as info:
        client.create_bucket_config(
            org="acme", nickname="s3", uri="s3://bucket/p", auth_config=auth, extra_config=extra
        )
    assert info.value.kind == frazil.ErrorKind.SECRET_IN_CONFIG
    assert "from_env" in str(info.value)
    assert "register_credential_provider" in str(info.value)
    assert client.list_bucket_configs("acme") == []


# ---------------------------------------------------------------------------- deletion
def test_delete_repo_guards_and_exact_deletion(client, catalog_url, files):
    client.create_bucket_config(org="acme", nickname="disk", uri=files.as_uri())
    client.set_default_bucket_config(org="acme", nickname="disk")
    doomed = client.create_repo("acme/temps")
    write_array(doomed, np.arange(10, dtype="i8"))
    with Client(catalog_url) as second:
        other_clients = second.get_repo("acme/temps")
    neighbour = client.create_repo("acme/temps2")  # shares the name's first letters
    write_array(neighbour, np.arange(3, dtype="i8"))
    (files / "acme" / "notes.txt").write_text("outside every repository")
    (files / "acme" / "temps.txt").write_text("a sibling file, not under the prefix")
    before = tree(files)
    assert any(k.startswith("acme/temps/") for k in before)

    for flags in ({}, {"imsure": True}, {"imreallysure": True}, {"imsure": 1, "imreallysure": 1}):
        with pytest.raises(frazil.InvalidInputError) as info:
            client.delete_repo("acme/temps", **flags)
        assert info.value.kind == frazil.ErrorKind.CONFIRMATION_REQUIRED
    assert tree(files) == before

    client.delete_repo("acme/temps", imsure=True, imreallysure=True)
    after = tree(files)
    assert after == {k: v for k, v in before.items() if not k.startswith("acme/temps/")}
    assert not (files / "acme" / "temps").exists()
    np.testing.assert_array_equal(read_array(client.get_repo("acme/temps2")), np.arange(3))
    assert [r.name for r in client.list_repos("acme")] == ["temps2"]

    # the Repository objects handed out before refuse, for reads and writes (also those of
    # another client in this process)
    with pytest.raises(frazil.RepositoryNotFoundError, match="deleted from the catalog"):
        doomed.writable_session("main")
    with pytest.raises(frazil.RepositoryNotFoundError, match="deleted from the catalog"):
        read_array(other_clients)
    with pytest.raises(frazil.RepositoryNotFoundError, match="deleted from the catalog"):
        doomed.list_branches()
    with pytest.raises(frazil.RepositoryNotFoundError):
        client.get_repo("acme/temps")
    assert not (files / "acme" / "temps").exists()  # nothing came back

    # the name is free again
    fresh = client.create_repo("acme/temps")
    assert fresh.list_branches() == {"main"}


def test_an_interrupted_deletion_is_finished_by_a_second_call(client, catalog_url, files):
    client.create_bucket_config(org="acme", nickname="disk", uri=files.as_uri())
    repo = client.create_repo("acme/temps", bucket_config_nickname="disk")
    write_array(repo, np.arange(4, dtype="i4"))
    # the state a crash right after the first step leaves: marked, objects still there
    engine = sa.create_engine(catalog_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE frazil_repos SET status = 'deleting'"))
    engine.dispose()
    assert (files / "acme" / "temps" / "repo").is_file()
    assert client.get_repo_object("acme/temps").status is RepoStatus.DELETING
    with pytest.raises(frazil.RepositoryNotFoundError, match="delete_repo"):
        client.get_repo("acme/temps")
    with pytest.raises(frazil.AlreadyExistsError, match="being deleted"):
        client.create_repo("acme/temps", bucket_config_nickname="disk")
    with pytest.raises(frazil.InvalidInputError, match="deleting"):
        client.update_repo("acme/temps", status="online")
    client.delete_repo("acme/temps", imsure=True, imreallysure=True)
    assert list(client) == []
    assert list(files.iterdir()) == []  # no object, and no folder it left empty
    assert files.is_dir()  # the bucket config's own directory stays


# ---------------------------------------------------------------------------- bucket configs
def test_bucket_configs(client, files, tmp_path):
    other = tmp_path / "other"
    disk = client.create_bucket_config(
        org="acme", nickname="disk", uri=files.as_uri(), extra_config={"durable": True}
    )
    assert (disk.org, disk.nickname, disk.platform, disk.is_default) == (
        "acme",
        "disk",
        "file",
        False,
    )
    assert disk.auth_config == {"method": "anonymous"}
    assert disk.extra_config == {"durable": True}
    client.create_bucket_config(org="acme", nickname="other", uri=other.as_uri() + "/")
    client.create_bucket_config(org="beta", nickname="disk", uri=files.as_uri())
    with pytest.raises(frazil.AlreadyExistsError, match="'disk' already exists"):
        client.create_bucket_config(org="acme", nickname="disk", uri=files.as_uri())
    assert [b.nickname for b in client.list_bucket_configs("acme")] == ["disk", "other"]
    with pytest.raises(frazil.NotFoundError, match="'disk', 'other'"):
        client.get_bucket_config(org="acme", nickname="nope")

    client.set_default_bucket_config(org="acme", nickname="other")
    client.set_default_bucket_config(org="acme", nickname="disk")
    defaults = {b.nickname: b.is_default for b in client.list_bucket_configs("acme")}
    assert defaults == {"disk": True, "other": False}

    client.create_repo("acme/temps")  # the default
    client.create_repo("acme/winds", bucket_config_nickname="other", prefix="deep/winds")
    assert (files / "acme" / "temps" / "repo").is_file()
    assert (other / "deep" / "winds" / "repo").is_file()
    assert client.get_repo_object("acme/temps").bucket_config_nickname == "disk"
    assert [r.name for r in client.list_repos_for_bucket_config(org="acme", nickname="disk")] == [
        "temps"
    ]

    with pytest.raises(frazil.InvalidInputError, match="confirm"):
        client.delete_bucket_config(org="acme", nickname="other")
    with pytest.raises(frazil.InvalidInputError, match=r"used by 1 repository \(acme/winds\)"):
        client.delete_bucket_config(org="acme", nickname="other", imsure=True, imreallysure=True)
    assert [b.nickname for b in client.list_bucket_configs("acme")] == ["disk", "other"]
    client.delete_repo("acme/winds", imsure=True, imreallysure=True)
    client.delete_bucket_config(org="acme", nickname="other", imsure=True, imreallysure=True)
    assert [b.nickname for b in client.list_bucket_configs("acme")] == ["disk"]
    assert (files / "acme" / "temps" / "repo").is_file()  # a bucket config deletes no data


def test_memory_bucket_configs_share_one_store_per_uri(client):
    client.create_bucket_config(org="acme", nickname="mem", uri="memory://catalog-test/base")
    repo = client.create_repo("acme/temps", bucket_config_nickname="mem")
    write_array(repo, np.arange(5, dtype="u1"))
    np.testing.assert_array_equal(read_array(client.get_repo("acme/temps")), np.arange(5))
    size = client.calculate_storage_size("acme/temps")
    assert size.bytes > 0
    client.delete_repo("acme/temps", imsure=True, imreallysure=True)
    assert client.calculate_storage_size().bytes == 0


def test_memory_catalogs_are_shared_per_uri_in_the_process():
    name = f"memory://t-{uuid.uuid4().hex[:8]}"
    with Client(name) as a:
        repo = a.create_repo("acme/temps")
        write_array(repo, np.arange(3, dtype="i4"))
        with Client(name) as b:
            np.testing.assert_array_equal(read_array(b.get_repo("acme/temps")), np.arange(3))
    with Client(f"memory://t-{uuid.uuid4().hex[:8]}") as other:
        assert list(other) == []


@pytest.mark.s3
def test_s3_bucket_config_keeps_no_secret(client, catalog_url, moto_s3, monkeypatch, tmp_path):
    import boto3

    key_id = "AKIAFRAZIL" + uuid.uuid4().hex[:10].upper()
    secret = "frazil-secret-" + uuid.uuid4().hex
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    base = f"team-{uuid.uuid4().hex[:8]}"
    extra = {"endpoint_url": moto_s3.endpoint, "region": "us-east-1", "allow_http": True}
    client.create_bucket_config(
        org="acme",
        nickname="s3",
        uri=f"s3://{moto_s3.bucket}/{base}",
        extra_config=extra,
        auth_config={"method": "from_env"},
    )
    repo = client.create_repo("acme/temps", bucket_config_nickname="s3")
    write_array(repo, np.arange(6, dtype="f4"))

    # a credential provider: the secret lives in code, the catalog holds only its name
    provider_secret = "provider-secret-" + uuid.uuid4().hex
    register_credential_provider(
        "vault", lambda cfg: {"access_key_id": key_id + "P", "secret_access_key": provider_secret}
    )
    client.create_bucket_config(
        org="acme",
        nickname="vaulted",
        uri=f"s3://{moto_s3.bucket}/{base}-v",
        extra_config=extra,
        auth_config={"method": "provider", "name": "vault"},
    )
    client.create_repo("acme/winds", bucket_config_nickname="vaulted")

    s3 = boto3.client(
        "s3",
        endpoint_url=moto_s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=moto_s3.bucket, Prefix=base)["Contents"]]
    assert f"{base}/acme/temps/repo" in keys
    assert f"{base}-v/acme/winds/repo" in keys
    assert all(k.startswith((f"{base}/acme/temps/", f"{base}-v/acme/winds/")) for k in keys)
    np.testing.assert_array_equal(read_array(client.get_repo("acme/temps")), np.arange(6))
    assert client.calculate_storage_size("acme/temps").bytes == sum(
        o["Size"]
        for o in s3.list_objects_v2(Bucket=moto_s3.bucket, Prefix=f"{base}/acme/temps/")["Contents"]
    )

    s3.put_object(Bucket=moto_s3.bucket, Key=f"{base}/occupied/x.bin", Body=b"not ours")
    with pytest.raises(frazil.AlreadyExistsError, match="holds objects"):
        client.create_repo("acme/occupied", bucket_config_nickname="s3", prefix="occupied")
    s3.delete_object(Bucket=moto_s3.bucket, Key=f"{base}/occupied/x.bin")
    assert [r.name for r in client.list_repos("acme")] == ["temps", "winds"]

    client.delete_repo("acme/temps", imsure=True, imreallysure=True)
    left = s3.list_objects_v2(Bucket=moto_s3.bucket, Prefix=base).get("Contents", [])
    assert all(o["Key"].startswith(f"{base}-v/") for o in left)
    assert left

    # byte by byte: no credential anywhere in the catalog
    if catalog_url.startswith("sqlite"):
        client.close()
        data = b"".join(p.read_bytes() for p in tmp_path.glob("catalog.db*") if p.is_file())
    else:
        engine = sa.create_engine(catalog_url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            rows = [
                repr(tuple(r))
                for table in ("frazil_bucket_configs", "frazil_repos", "frazil_catalog_info")
                for r in conn.execute(sa.text(f"SELECT * FROM {table}"))
            ]
        engine.dispose()
        data = "\n".join(rows).encode()
        assert b"vault" in data
        assert b"from_env" in data
    for credential in (secret, key_id, provider_secret):
        assert credential.encode() not in data


# ---------------------------------------------------------------------------- databases
def test_unreachable_database_names_the_host_without_driver_stack():
    with pytest.raises(frazil.StorageError) as info:
        Client("postgresql://someone@127.0.0.1:1/catalog")
    error = info.value
    assert error.kind == frazil.ErrorKind.CATALOG_UNREACHABLE
    assert "127.0.0.1:1" in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert "Traceback" not in str(error)
    assert "sqlalchemy" not in str(error).lower()


@pytest.mark.parametrize(
    "content",
    [b"not a database at all\n" * 10, b"\x00\x01\x02" * 100],
    ids=["text", "binary"],
)
def test_a_file_that_is_not_a_catalog_is_refused_untouched(tmp_path, content):
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    stat = path.stat()
    with pytest.raises(frazil.FormatError) as info:
        Client(f"sqlite:///{path}")
    assert info.value.kind == frazil.ErrorKind.NOT_A_CATALOG
    assert path.read_bytes() == content
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_a_foreign_sqlite_database_is_refused_untouched(tmp_path):
    import sqlite3

    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(frazil.FormatError, match="not a frazil catalog") as info:
        Client(str(path))
    assert info.value.kind == frazil.ErrorKind.NOT_A_CATALOG
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_a_postgres_database_with_stray_catalog_tables_is_refused(postgres_server):
    url = postgres_server.new_database()
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE frazil_repos (x int)"))
    with pytest.raises(frazil.FormatError, match="not a frazil catalog"):
        Client(url)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert tables == {"frazil_repos"}


def test_head_revision_is_alembic_head():
    from alembic.script import ScriptDirectory

    from frazil.catalog import _db

    script = ScriptDirectory.from_config(_db.alembic_config())
    assert script.get_current_head() == _db.HEAD_REVISION


def test_a_catalog_at_revision_0001_opens_and_migrates_forward(catalog_url, files):
    """Build the database at revision 0001 with Alembic and 0001-shaped rows, then open it:
    the client brings it to the head revision and keeps every row."""
    from alembic import command

    from frazil.catalog import _db

    engine = sa.create_engine(catalog_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        command.upgrade(_db.alembic_config(conn), "0001")
        root = (files / "root").as_uri()
        conn.execute(
            sa.text(
                "INSERT INTO frazil_catalog_info (key, value) VALUES ('format', "
                "'frazil-catalog'), ('default_root', :root)"
            ),
            {"root": root},
        )
        conn.execute(
            sa.text(
                "INSERT INTO frazil_bucket_configs (org, nickname, uri, extra_config, "
                "auth_config, is_default, created_at, updated_at) VALUES ('acme', 'disk', :u, "
                "'{}', '{\"method\": \"anonymous\"}', :t, :now, :now)"
            ),
            {"u": files.as_uri(), "t": True, "now": "2026-01-01 00:00:00"},
        )
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {_db.VERSION_TABLE}")).scalar() == (
            "0001"
        )
    engine.dispose()
    with Client(catalog_url) as client:
        [bucket] = client.list_bucket_configs("acme")
        assert (bucket.nickname, bucket.is_default) == ("disk", True)
        repo = client.create_repo("acme/temps")
        write_array(repo, np.arange(3, dtype="i4"))
    assert (files / "acme" / "temps" / "repo").is_file()
    engine = sa.create_engine(catalog_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        version = conn.execute(sa.text(f"SELECT version_num FROM {_db.VERSION_TABLE}")).scalar()
    engine.dispose()
    assert version == _db.HEAD_REVISION


def test_a_catalog_of_a_newer_frazil_is_refused(catalog_url):
    from frazil.catalog import _db

    Client(catalog_url).close()
    engine = sa.create_engine(catalog_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {_db.VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(frazil.FormatError, match="newer frazil") as info:
        Client(catalog_url)
    assert info.value.kind == frazil.ErrorKind.UNSUPPORTED_FORMAT_VERSION


def test_sqlite_catalogs_use_wal_and_a_busy_timeout(tmp_path):
    path = tmp_path / "catalog.db"
    Client(str(path)).close()
    import sqlite3

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


# ---------------------------------------------------------------------------- client object
def test_the_client_can_be_entered_again_after_closing(catalog_url):
    client = Client(catalog_url)
    assert client.is_open
    assert not client.is_closed
    with client:
        client.create_repo("acme/temps")
    assert client.is_closed
    assert not client.is_open
    with pytest.raises(frazil.SessionStateError, match="closed") as info:
        client.list_repos("acme")
    assert info.value.kind == frazil.ErrorKind.CLIENT_CLOSED
    with client:
        assert [r.name for r in client.list_repos("acme")] == ["temps"]
    with client:
        assert client.is_open
    client.close()
    client.close()  # idempotent


def test_async_client_has_the_same_methods_awaited(catalog_url):
    public = {n for n, v in vars(Client).items() if not n.startswith("_") and callable(v)}
    for name in public:
        sync_sig = inspect.signature(getattr(Client, name))
        async_fn = getattr(AsyncClient, name)
        if name != "close":
            assert inspect.iscoroutinefunction(async_fn), name
        assert inspect.signature(async_fn) == sync_sig, name

    async def main():
        async with AsyncClient(catalog_url) as client:
            repo = await client.create_repo("acme/temps", metadata={"k": 1})
            session = repo.writable_session("main")
            zarr.create_array(session.store, name="x", shape=(2,), dtype="i1")[:] = [4, 5]
            await session.commit_async("two")
            names = [r.full_name async for r in client]
            again = await client.get_repo("acme/temps")
            values = read_array(again).tolist()
            entry = await client.get_repo_object("acme/temps")
            await client.delete_repo("acme/temps", imsure=True, imreallysure=True)
            return (
                names,
                values,
                entry.metadata,
                await client.list_repos("acme"),
            )

    names, values, metadata, left = asyncio.run(main())
    assert names == ["acme/temps"]
    assert values == [4, 5]
    assert metadata == {"k": 1}
    assert left == []


# ---------------------------------------------------------------------------- conveniences
def test_calculate_storage_size(client, files):
    client.create_bucket_config(org="acme", nickname="disk", uri=files.as_uri())
    for name, n in (("acme/a", 10), ("acme/b", 1000)):
        repo = client.create_repo(name, bucket_config_nickname="disk")
        write_array(repo, np.arange(n, dtype="f8"))
    client.create_repo("beta/c")

    def on_disk(path):
        return sum(
            p.stat().st_size
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )

    a = client.calculate_storage_size("acme/a")
    b = client.calculate_storage_size("acme/b")
    assert a.bytes == on_disk(files / "acme" / "a")
    assert a.repos == 1
    assert a.objects > 0
    assert b.bytes == on_disk(files / "acme" / "b")
    org = client.calculate_storage_size("acme")
    assert (org.bytes, org.repos) == (a.bytes + b.bytes, 2)
    everything = client.calculate_storage_size()
    assert everything.repos == 3
    assert everything.bytes > org.bytes
    assert str(b) == b.human
    assert b.human.endswith(("B", "KiB"))
    from frazil.catalog import StorageSize

    assert StorageSize(bytes=1395864371, objects=1, repos=1).human == "1.3 GiB"
    assert StorageSize(bytes=512, objects=1, repos=1).human == "512 B"


def test_clear_locks_removes_only_locks_no_process_holds(client, files):
    client.create_bucket_config(org="acme", nickname="disk", uri=files.as_uri())
    repo = client.create_repo("acme/temps", bucket_config_nickname="disk")
    write_array(repo, np.arange(4, dtype="i4"))
    locks = files / "acme" / "temps" / ".locks"
    stale = sorted(locks.glob("*.lock"))
    assert stale  # conditional writes (the refs) left lock files behind
    held = locks / "held-by-another-process.lock"
    held.touch()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import fcntl, os, sys, time
            fd = os.open({str(held)!r}, os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX)
            print("locked", flush=True)
            time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert client.clear_locks("acme/temps") == len(stale)
        assert sorted(locks.glob("*.lock")) == [held]
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert client.clear_locks() == 1
    # the repository still commits: its lock files come back as needed
    write_array(client.get_repo("acme/temps"), np.zeros(4, dtype="i4"), message="zeros")
    np.testing.assert_array_equal(read_array(client.get_repo("acme/temps")), np.zeros(4))


def test_check_integrity_across_repositories(client, files, tmp_path):
    client.create_bucket_config(org="acme", nickname="disk", uri=files.as_uri())
    for name in ("acme/a", "acme/b"):
        write_array(client.create_repo(name, bucket_config_nickname="disk"), np.arange(4))
    reports = client.check_integrity(level=1)
    assert sorted(reports) == ["acme/a", "acme/b"]
    assert all(r.ok for r in reports.values())
    assert reports.ok
    assert reports.findings == []
    # break one repository: a snapshot disappears
    snapshot = next((files / "acme" / "a" / "snapshots").iterdir())
    snapshot.unlink()
    reports = client.check_integrity(level=1, stop_on_error=False, to_file=tmp_path / "r.json")
    assert not reports["acme/a"].ok
    assert reports["acme/b"].ok
    assert not reports.ok
    assert {name for name, _ in reports.findings} == {"acme/a"}
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["ok"] is False
    assert sorted(written["repos"]) == ["acme/a", "acme/b"]
    assert written["repos"]["acme/a"]["ok"] is False
    # stop_on_error stops at the first repository with a finding
    assert list(client.check_integrity(level=1)) == ["acme/a"]
    assert list(client.check_integrity(repo="acme/b")) == ["acme/b"]
    with pytest.raises(frazil.InvalidInputError, match="level"):
        client.check_integrity(level=7)


# ---------------------------------------------------------------------------- concurrency
WORKER = """
import json, os, sys, time
import frazil
url, start, worker, marks = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
names = [f"team/r{i:02d}" for i in range(12)]
client = frazil.Client(url)
while time.time() < start:
    time.sleep(0.005)
created, refused, listed = [], 0, []
for i, name in enumerate(names[worker % 3:] + names[:worker % 3]):
    try:
        client.create_repo(name, metadata={"by": worker})
        created.append(name)
    except frazil.AlreadyExistsError:
        refused += 1
    if i % 3 == 0:
        listed.append(len(client.list_repos("team")))
open(os.path.join(marks, str(worker)), "w").close()  # every create is tried before deletes
while len(os.listdir(marks)) < 8:
    listed.append(len(client.list_repos("team")))
    time.sleep(0.01)
for name in created[::2]:
    client.delete_repo(name, imsure=True, imreallysure=True)
    listed.append(len(client.list_repos("team")))
print(json.dumps({"created": created, "refused": refused, "deleted": created[::2],
                  "listed": listed}))
"""


@pytest.mark.slow
def test_eight_processes_create_list_and_delete_at_once(catalog_url, tmp_path):
    Client(catalog_url).close()  # the schema exists; the race is about repositories
    start = time.time() + 8
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "PYTHONPATH": SRC, "XDG_DATA_HOME": str(tmp_path / "data")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, catalog_url, str(start), str(w), str(marks)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(8)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    created = [n for r in results for n in r["created"]]
    assert sorted(created) == [f"team/r{i:02d}" for i in range(12)]  # each exactly once
    assert sum(r["refused"] for r in results) == 8 * 12 - 12
    deleted = {n for r in results for n in r["deleted"]}
    with Client(catalog_url) as client:
        left = client.list_repos("team")
        assert sorted(r.full_name for r in left) == sorted(set(created) - deleted)
        assert all(r.status is RepoStatus.ONLINE for r in left)
        for entry in left:
            assert client.get_repo(entry.full_name).list_branches() == {"main"}
        roots = {pathlib.Path(r.location.removeprefix("file://")).parent for r in left}
    assert len(roots) == 1
    assert sorted(p.name for p in roots.pop().iterdir()) == sorted(r.name for r in left)
    if catalog_url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(catalog_url.removeprefix("sqlite:///"))
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()


# ---------------------------------------------------------------------------- CLI apps
def test_repo_and_bucket_commands(catalog_url, files):
    from typer.testing import CliRunner

    from frazil.catalog import bucket_app, repo_app

    runner = CliRunner()

    def run(app, *args, code=0):
        result = runner.invoke(app, [*args, "--catalog", catalog_url])
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        return result

    def refused(app, *args):
        """A frazil error, raised to the frazil command (which prints it in one line)."""
        result = runner.invoke(app, [*args, "--catalog", catalog_url])
        assert isinstance(result.exception, frazil.FrazilError), result.stdout
        return result.exception

    run(bucket_app, "create", "acme", "disk", files.as_uri(), "--extra-config", '{"durable": true}')
    run(bucket_app, "set-default", "acme", "disk")
    out = run(repo_app, "create", "acme/temps", "--metadata", '{"team": "ocean"}', "--json")
    created = json.loads(out.stdout)
    assert created["full_name"] == "acme/temps"
    assert created["bucket_config_nickname"] == "disk"
    assert (files / "acme" / "temps" / "repo").is_file()
    listed = json.loads(run(repo_app, "list", "acme", "--json").stdout)
    assert [r["name"] for r in listed] == ["temps"]
    assert "acme/temps\tonline\tdisk" in run(repo_app, "list").stdout
    run(repo_app, "update", "acme/temps", "--status", "archived")
    assert json.loads(run(repo_app, "show", "acme/temps", "--json").stdout)["status"] == "archived"
    shown = json.loads(run(bucket_app, "show", "acme", "disk", "--json").stdout)
    assert shown["repos"] == ["acme/temps"]
    assert shown["bucket"]["is_default"] is True
    assert json.loads(run(bucket_app, "list", "acme", "--json").stdout)[0]["nickname"] == "disk"

    # refusals: frazil errors (the frazil command prints them), nothing changed
    assert isinstance(refused(repo_app, "create", "acme/Bad"), frazil.InvalidInputError)
    assert isinstance(refused(repo_app, "show", "acme/none"), frazil.RepositoryNotFoundError)
    assert isinstance(refused(repo_app, "create", "acme/temps"), frazil.AlreadyExistsError)
    assert "--yes" in run(repo_app, "delete", "acme/temps", code=2).stderr
    in_use = refused(bucket_app, "delete", "acme", "disk", "--yes")
    assert in_use.kind == frazil.ErrorKind.BUCKET_CONFIG_IN_USE
    assert "--yes" in run(bucket_app, "delete", "acme", "disk", code=2).stderr
    assert run(repo_app, "create", "acme/x", "--metadata", "[1]", code=2).stderr
    assert (files / "acme" / "temps" / "repo").is_file()
    assert [r.name for r in Client(catalog_url).list_repos("acme")] == ["temps"]

    run(repo_app, "delete", "acme/temps", "--yes")
    assert not (files / "acme" / "temps").exists()
    run(bucket_app, "delete", "acme", "disk", "--yes")
    assert json.loads(run(bucket_app, "list", "acme", "--json").stdout) == []


def test_importing_the_catalog_stays_light():
    code = (
        "import sys, frazil; frazil.Client; "
        "print(','.join(m for m in ('typer', 'rich', 'alembic', 'psycopg', 'dask', 'xarray') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ""


def test_a_crashed_creation_is_removed_by_delete_repo(client, catalog_url, files):
    client.create_bucket_config(org="acme", nickname="disk", uri=files.as_uri())
    client.create_repo("acme/temps", bucket_config_nickname="disk")
    engine = sa.create_engine(catalog_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:  # the state a create_repo in progress (or crashed) leaves
        conn.execute(sa.text("UPDATE frazil_repos SET status = 'creating'"))
    with pytest.raises(frazil.RepositoryNotFoundError, match="creating"):
        client.get_repo("acme/temps")
    with pytest.raises(frazil.InvalidInputError, match="being created right now"):
        client.delete_repo("acme/temps", imsure=True, imreallysure=True)
    assert (files / "acme" / "temps" / "repo").is_file()
    with engine.begin() as conn:  # ... and long ago: the creating process is gone
        conn.execute(
            sa.text("UPDATE frazil_repos SET updated_at = :t"),
            {
                "t": (datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)).strftime(
                    "%Y-%m-%d %H:%M:%S.%f" + ("+00:00" if "postgresql" in catalog_url else "")
                )
            },
        )
    engine.dispose()
    client.delete_repo("acme/temps", imsure=True, imreallysure=True)
    assert list(client) == []
    assert tree(files) == {}


def test_a_fresh_in_memory_client_can_start_with_any_call():
    name = f"memory://t-{uuid.uuid4().hex[:8]}"
    with Client(name) as a:
        a.create_repo("acme/temps")
    for call in (
        lambda c: c.delete_repo("acme/temps", imsure=True, imreallysure=True),
        lambda c: c.update_repo("acme/temps", description="x"),
    ):
        with Client(name) as b, contextlib.suppress(frazil.NotFoundError):
            call(b)
    with Client(name) as c:
        assert list(c) == []


def test_the_migrations_build_exactly_the_models(catalog_url):
    """What the Alembic revisions create is what the models describe (no drift)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from frazil.catalog import _db, _models

    Client(catalog_url).close()
    engine = sa.create_engine(catalog_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": _db.VERSION_TABLE})
        diff = compare_metadata(context, _models.METADATA)
    engine.dispose()
    assert diff == []


def test_a_stamped_catalog_opens(tmp_path):
    """A database whose tables were made from the models and stamped at 0001 (as a tool
    outside frazil might make it) opens, and the client fills in the catalog facts."""
    from alembic import command

    from frazil.catalog import _db, _models

    url = f"sqlite:///{tmp_path / 'stamped.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _models.METADATA.create_all(conn)
        command.stamp(_db.alembic_config(conn), "0001")
    engine.dispose()
    with Client(url) as client:
        client.create_repo("acme/temps")
        assert [r.full_name for r in client] == ["acme/temps"]
    assert (tmp_path / "repos" / "acme" / "temps" / "repo").is_file()


def test_clearing_locks_while_writers_race_keeps_one_winner(client, files):
    """clear_locks removes lock files that writers are about to take: the writers notice
    (the lock file they hold is gone) and lock anew, so every create still has one winner
    and no compare-and-swap update is lost (updates take the key lock; creates publish by
    hard link and are checked alongside)."""
    import threading

    from frazil.storage import IfMatch

    client.create_bucket_config(org="acme", nickname="disk", uri=files.as_uri())
    client.create_repo("acme/temps", bucket_config_nickname="disk")
    storage = frazil.local_filesystem_storage(files / "acme" / "temps")
    keys, counters, rounds = 40, 4, 25
    wins = [0] * keys
    updates = [0] * counters
    count = threading.Lock()
    stop = threading.Event()
    cleared = []
    for c in range(counters):
        storage.put_sync(f"count/{c}", b"0", mode="create")

    def clearer():
        while not stop.is_set():
            cleared.append(client.clear_locks("acme/temps"))

    def writer(w):
        for k in range(keys):
            try:
                storage.put_sync(f"race/{k}", f"{w}".encode() * 1000, mode="create")
            except frazil.AlreadyExistsError:
                continue
            with count:
                wins[k] += 1
        for r in range(rounds):
            c = (w + r) % counters
            while True:
                current = asyncio.run(storage.get_versioned(f"count/{c}"))
                value = int(current.data) + 1
                try:
                    storage.put_sync(
                        f"count/{c}", str(value).encode(), mode=IfMatch(current.version)
                    )
                except frazil.PreconditionFailedError:
                    continue
                break
            with count:
                updates[c] += 1

    threads = [threading.Thread(target=clearer)]
    threads += [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join()
    stop.set()
    threads[0].join()
    assert wins == [1] * keys
    assert [int(storage.get_sync(f"count/{c}")) for c in range(counters)] == updates
    assert sum(updates) == 6 * rounds
    assert sum(cleared) > 0  # the clearer did remove lock files meanwhile


def test_a_lock_whose_file_was_removed_while_waiting_is_taken_anew(tmp_path):
    """The interleaving clear_locks can cause: a writer opened the lock file, waits in
    flock, and the file is removed before it gets the lock. It must then lock the file that
    is there now (else a newcomer locking that one would be inside at the same time)."""
    import fcntl
    import threading

    from frazil.storage._local import _FileLock

    path = tmp_path / "key.lock"
    first = _FileLock(path, lambda d: d.mkdir(parents=True, exist_ok=True))
    second = _FileLock(path, lambda d: d.mkdir(parents=True, exist_ok=True))
    first.__enter__()
    inside = threading.Event()
    leave = threading.Event()

    def waiter():
        with second:
            inside.set()
            leave.wait(30)

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.5)  # the waiter has opened the lock file and blocks in flock
    path.unlink()  # removed meanwhile (by a clear_locks between the two writers)
    first.__exit__(None, None, None)
    assert inside.wait(30)
    newcomer = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(newcomer, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(newcomer)
        leave.set()
        thread.join()


def test_async_client_calls_can_run_concurrently(catalog_url):
    async def main():
        async with AsyncClient(catalog_url) as client:
            names = [f"acme/r{i}" for i in range(8)] + ["acme/same"] * 4
            results = await asyncio.gather(
                *(client.create_repo(n) for n in names), return_exceptions=True
            )
            listed = await client.list_repos("acme")
            sizes = await asyncio.gather(*(client.calculate_storage_size(n) for n in names[:8]))
            return results, listed, sizes

    results, listed, sizes = asyncio.run(main())
    assert all(isinstance(r, frazil.Repository) for r in results[:8])
    same = results[8:]
    assert sum(isinstance(r, frazil.Repository) for r in same) == 1
    assert all(
        isinstance(r, frazil.AlreadyExistsError)
        for r in same
        if not isinstance(r, frazil.Repository)
    )
    assert sorted(r.name for r in listed) == sorted([f"r{i}" for i in range(8)] + ["same"])
    assert all(s.bytes > 0 and s.repos == 1 for s in sizes)
