"""The frazil command: the installed console script, run in subprocesses (and one command in
a pseudo-terminal), checked against the Python API."""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import select
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr
from zarr.core.buffer import default_buffer_prototype

import frazil
from frazil._sync import sync
from test_integrity import DAMAGE, build  # the same damaged repositories

if TYPE_CHECKING:
    from pathlib import Path

SRC = pathlib.Path(frazil.__file__).parent.parent
SCRIPT = pathlib.Path(sys.executable).parent / "frazil"

pytestmark = pytest.mark.skipif(
    not SCRIPT.exists(), reason="the frazil console script is not installed"
)


def env(**extra: str) -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = str(SRC)
    out["COLUMNS"] = "200"
    out.update(extra)
    return out


def run(*args: str, code: int = 0, **extra: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(SCRIPT), *args],
        check=False,
        capture_output=True,
        text=True,
        env=env(**extra),
        timeout=120,
    )
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def run_json(*args: str, code: int = 0) -> Any:
    return json.loads(run(*args, "--json", code=code).stdout)


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Path, frazil.Repository]:
    path = tmp_path / "repo"
    config = frazil.RepositoryConfig(inline_chunk_threshold_bytes=0)
    repo = frazil.Repository.create(frazil.local_filesystem_storage(path), config)
    session = repo.writable_session("main")
    zarr.create_group(session.store, path="g")
    a = zarr.create_array(session.store, name="g/a", shape=(6, 4), chunks=(2, 4), dtype="f8")
    a[:] = np.arange(24).reshape(6, 4)
    first = session.commit("first")
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="g/a")[:2] = -1
    session.commit("second", metadata={"who": "me"})
    repo.create_tag("v1", first)
    return path, repo


def test_help_documents_the_exit_codes() -> None:
    out = run("--help").stdout
    assert "Exit codes: 0 success; 1 findings" in " ".join(out.split())
    for command in ("init", "log", "branch", "tag", "show", "diff", "check", "du", "expire"):
        assert command in out
    for command in ("gc", "ops-log", "jobs", "config"):
        assert command in out


def test_init_then_log(tmp_path: Path) -> None:
    path = tmp_path / "new"
    run("init", str(path))
    repo = frazil.Repository.open(frazil.local_filesystem_storage(path))
    (entry,) = run_json("log", str(path))
    assert entry["id"] == repo.lookup_branch("main")
    assert entry["message"] == "Repository initialized"
    proc = run("init", str(path), code=1)
    assert "already exists" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_log_json_agrees_with_ancestry(filled: tuple[Path, frazil.Repository]) -> None:
    path, repo = filled
    doc = run_json("log", str(path))
    history = list(repo.ancestry(branch="main"))
    assert [e["id"] for e in doc] == [s.id for s in history]
    assert [e["message"] for e in doc] == [s.message for s in history]
    assert doc[0]["metadata"] == {"who": "me"}
    assert doc[0]["written_at"] == history[0].written_at.isoformat()
    assert len(run_json("log", str(path), "-n", "2")) == 2
    assert [e["id"] for e in run_json("log", str(path), "--tag", "v1")] == [
        s.id for s in repo.ancestry(tag="v1")
    ]
    assert "second" in run("log", str(path)).stdout


def test_show_json_agrees_with_the_data(filled: tuple[Path, frazil.Repository]) -> None:
    path, repo = filled
    doc = run_json("show", str(path))
    assert doc["snapshot_id"] == repo.lookup_branch("main")
    nodes = {n["path"]: n for n in doc["nodes"]}
    assert nodes["/g"]["kind"] == "group"
    a = nodes["/g/a"]
    assert (a["shape"], a["chunks"], a["dtype"]) == ([6, 4], [2, 4], "float64")
    assert a["chunk_count"] == 3
    session = repo.readonly_session(branch="main")
    prototype = default_buffer_prototype()

    async def stored() -> tuple[int, int]:
        coords = [c async for c in session.chunk_coordinates("/g/a")]
        sizes = [
            len(await session.store.get(f"g/a/c/{i}/{j}", prototype))  # type: ignore[arg-type]
            for i, j in coords
        ]
        return len(coords), sum(sizes)

    assert (a["chunk_count"], a["bytes"]) == sync(stored())
    text = run("show", str(path)).stdout
    assert "a  shape=(6, 4) chunks=(2, 4) dtype=float64  3 chunks" in text
    tagged = run_json("show", str(path), "--tag", "v1")
    assert tagged["snapshot_id"] == repo.lookup_tag("v1")


def test_du_json_agrees_with_statistics(filled: tuple[Path, frazil.Repository]) -> None:
    path, repo = filled
    assert run_json("du", str(path)) == repo.chunk_storage_stats().to_dict()
    on_disk = sum(p.stat().st_size for p in (path / "chunks").iterdir())
    assert run_json("du", str(path))["native_bytes"] == on_disk
    assert "native" in run("du", str(path)).stdout


def test_check_exits_0_when_whole_and_1_with_findings(
    filled: tuple[Path, frazil.Repository], tmp_path: Path
) -> None:
    path, repo = filled
    for level in ("1", "2", "3", "4"):
        doc = run_json("check", str(path), "--level", level)
        assert doc["ok"] is True
        assert doc == {
            **repo.check_integrity(int(level)).to_dict(),
            "checked_at": doc["checked_at"],
        }
    victim = min((path / "chunks").iterdir())
    victim.write_bytes(victim.read_bytes()[:-1])
    doc = run_json("check", str(path), "--level", "3", code=1)
    assert doc["findings"][0]["key"] == f"chunks/{victim.name}"
    assert doc["findings"][0]["kind"] == "size-mismatch"
    report = tmp_path / "report.json"
    proc = run("check", str(path), "--level", "4", "--all-errors", "--report", str(report), code=1)
    assert f"chunks/{victim.name}" in proc.stdout
    assert json.loads(report.read_text())["ok"] is False
    assert run_json("check", str(path), "--level", "2")["ok"] is True


def test_branches_and_tags(filled: tuple[Path, frazil.Repository]) -> None:
    path, repo = filled
    tip = repo.lookup_branch("main")
    run("branch", "create", str(path), "dev", "--from", "v1")
    assert run_json("branch", "list", str(path)) == {"dev": repo.lookup_tag("v1"), "main": tip}
    run("branch", "reset", str(path), "dev", "main")
    assert repo.lookup_branch("dev") == tip
    run("branch", "delete", str(path), "dev")
    assert repo.list_branches() == {"main"}
    run("tag", "create", str(path), "v2", "main")
    assert run_json("tag", "list", str(path)) == {"v1": repo.lookup_tag("v1"), "v2": tip}
    run("tag", "delete", str(path), "v2")
    assert repo.list_tags() == {"v1"}
    kinds = [e["kind"] for e in run_json("ops-log", str(path), "-n", "5")]
    assert kinds == [
        "tag_deleted",
        "tag_created",
        "branch_deleted",
        "branch_reset",
        "branch_created",
    ]


def test_errors_are_one_line_with_documented_codes(filled: tuple[Path, frazil.Repository]) -> None:
    path, _ = filled
    cases = [
        (("log", str(path), "--branch", "nope"), 3, "branch 'nope' not found"),
        (("log", str(path.parent / "missing")), 3, "no frazil repository"),
        (("check", str(path), "--level", "9"), 2, "level must be 1, 2, 3 or 4"),
        (("expire", str(path), "--older-than", "soon"), 2, "'soon' is not a duration"),
        (("gc", str(path), "--older-than", "2020-01-01T00:00:00"), 2, "has no timezone"),
        (("log", "ftp://host/x"), 2, "unknown scheme 'ftp'"),
        (("branch", "create", str(path), "x", "--from", "nowhere"), 3, "'nowhere' is neither"),
        (("log", str(path), "--no-such-option"), 2, "No such option"),
    ]
    for args, code, text in cases:
        proc = run(*args, code=code)
        assert text in proc.stderr
        assert "Traceback" not in proc.stderr
    proc = run("--debug", "log", str(path), "--branch", "nope", code=3)
    assert "Traceback" in proc.stderr


def test_expire_and_gc(filled: tuple[Path, frazil.Repository]) -> None:
    path, repo = filled
    first = repo.lookup_tag("v1")
    run("tag", "delete", str(path), "v1")
    doc = run_json("expire", str(path), "--older-than", "0s")
    # (a new process: this one cached the snapshots the expiry rewrote)
    history = [e["id"] for e in run_json("log", str(path))]
    assert len(history) == 2  # the tip and the first snapshot
    assert first in doc["expired"]
    before = sorted(p.name for p in (path / "snapshots").iterdir())
    dry = run_json("gc", str(path), "--older-than", "0s")
    assert dry["dry_run"] is True
    assert dry["snapshots_deleted"] == 1
    assert dry["bytes_deleted"] > 0
    assert sorted(p.name for p in (path / "snapshots").iterdir()) == before
    text = run("gc", str(path), "--older-than", "0s").stdout
    assert "would delete" in text
    assert "dry run" in text
    done = run_json("gc", str(path), "--older-than", "0s", "--yes")
    assert done == {**dry, "dry_run": False}
    assert first not in {p.name for p in (path / "snapshots").iterdir()}
    np.testing.assert_array_equal(
        zarr.open_array(repo.readonly_session(branch="main").store, path="g/a", mode="r")[:2], -1
    )


def test_diff_json(filled: tuple[Path, frazil.Repository]) -> None:
    path, repo = filled
    doc = run_json("diff", str(path), "v1", "main")
    expected = repo.diff(from_tag="v1", to_branch="main")
    assert doc["updated_chunks"] == expected.updated_chunks == {"/g/a": [[0, 0]]}
    assert doc["new_arrays"] == []


def test_jobs_and_config(filled: tuple[Path, frazil.Repository]) -> None:
    path, repo = filled
    with frazil.Job.create(repo, "fill", params={"k": 1}) as job:
        zarr.open_array(job.session.store, path="g/a")[4:] = 7
        job.commit("job")
    (record,) = run_json("jobs", str(path))
    assert (record["name"], record["status"]) == ("fill", "committed")
    assert "fill" in run("jobs", str(path)).stdout
    assert run_json("ops-log", str(path), "-n", "1")[0]["job"] == "fill"
    assert run_json("config", "show", str(path)) == {"inline_chunk_threshold_bytes": 0}
    run("config", "set", str(path), "inline_chunk_threshold_bytes", "64")
    saved = frazil.Repository.fetch_config(frazil.local_filesystem_storage(path))
    assert saved is not None
    assert saved.inline_chunk_threshold_bytes == 64
    proc = run("config", "set", str(path), "inline_chunk_threshold_bytes", '"many"', code=2)
    assert "Traceback" not in proc.stderr
    assert frazil.Repository.fetch_config(frazil.local_filesystem_storage(path)) == saved


def test_config_flags(filled: tuple[Path, frazil.Repository]) -> None:
    path, repo = filled
    repo.set_feature_flag("delete_tag", False)
    doc = run_json("config", "flags", str(path))
    assert doc == [
        {
            "id": f.id,
            "name": f.name,
            "default_enabled": True,
            "setting": f.setting,
            "enabled": f.enabled,
        }
        for f in repo.feature_flags()
    ]
    assert [f["name"] for f in doc if not f["enabled"]] == ["delete_tag"]
    table = run("config", "flags", str(path)).stdout
    assert "delete_tag" in table
    assert "off" in table
    proc = run("tag", "delete", str(path), "v1", code=1)
    assert "feature flag 'delete_tag' is disabled" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert repo.list_tags() == {"v1"}
    assert run_json("ops-log", str(path), "-n", "1")[0]["kind"] == "feature_flag_changed"


def test_s3_repository(moto_s3: Any) -> None:
    url = f"s3://{moto_s3.bucket}/cli-{time.time_ns()}"
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    opts = ("--endpoint-url", moto_s3.endpoint, "--allow-http", "--region", "us-east-1")
    run("init", url, *opts, **creds)
    doc = json.loads(run("log", url, *opts, "--json", **creds).stdout)
    assert doc[0]["message"] == "Repository initialized"
    assert json.loads(run("check", url, *opts, "--level", "4", "--json", **creds).stdout)["ok"]


def test_gc_in_a_terminal_asks_and_shows_progress(filled: tuple[Path, frazil.Repository]) -> None:
    path, repo = filled
    repo.delete_tag("v1")
    repo.expire_snapshots(datetime.datetime.now(datetime.UTC))
    pid, fd = os.forkpty() if hasattr(os, "forkpty") else (None, None)  # type: ignore[misc]
    if pid is None:
        pytest.skip("no pseudo-terminal on this platform")
    if pid == 0:  # the child: run the command on the terminal
        os.environ.update(env(TERM="xterm", COLUMNS="100"))
        os.execv(str(SCRIPT), [str(SCRIPT), "gc", str(path), "--older-than", "0s"])
    seen = b""

    def read_until(marker: bytes, timeout: float = 60) -> None:
        nonlocal seen
        end = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
        assert marker in seen, seen.decode(errors="replace")

    read_until(b"[y/N]")
    assert b"would delete" in seen
    assert b"scanning" in seen  # the progress bar, drawn on the terminal
    os.write(fd, b"y\n")
    read_until(b"deleted 4 object(s)")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"deleting" in seen
    assert len(list((path / "snapshots").iterdir())) == 2


@pytest.mark.parametrize(("damage", "level", "kind"), DAMAGE, ids=[d[0].__name__ for d in DAMAGE])
def test_check_finds_each_damage_at_its_level(
    tmp_path: Path, damage: Any, level: int, kind: str
) -> None:
    path = tmp_path / "r"
    repo, ids = build(path)
    key = damage(repo, path, ids)
    if level > 1:
        assert run_json("check", str(path), "--level", str(level - 1))["ok"] is True
    doc = run_json("check", str(path), "--level", str(level), "--all-errors", code=1)
    assert (key, kind, level) in {(f["key"], f["kind"], f["level"]) for f in doc["findings"]}
