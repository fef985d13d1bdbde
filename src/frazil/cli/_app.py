"""The ``frazil`` command: typer for the command tree, rich for tables, trees and progress."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import importlib
import json
import re
import sys
import traceback
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from frazil._errors import (
    ConflictError,
    ErrorKind,
    FrazilError,
    InvalidInputError,
    NotFoundError,
    ReadOnlyError,
)
from frazil._ops import node_table
from frazil._repository import context_of
from frazil._sync import sync
from frazil.cli._target import open_repository
from frazil.format import looks_like_id

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from frazil._repository import Repository

__all__ = ["app", "exit_code_for", "main", "parse_when"]

EXIT_CODES = """Exit codes: 0 success; 1 findings (a failed check, a conflict, an error of the
repository or its storage); 2 usage error (a bad argument or option); 3 not found (no
repository, branch, tag or snapshot of that name)."""

app = typer.Typer(
    name="frazil",
    help=(
        "Inspect and maintain frazil repositories (Zarr v3 with git-like transactions).\n\n"
        "REPO is a local path, s3://BUCKET/PREFIX (with --endpoint-url, --region, "
        "--anonymous, --allow-http) or a catalog name ORG/REPO.\n\n"
        + EXIT_CODES
        + "\n\nErrors print one line; add --debug for the traceback. Read commands take "
        "--json and print one JSON document."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
branch_app = typer.Typer(help="List, create, delete and reset branches.", no_args_is_help=True)
tag_app = typer.Typer(help="List, create and delete tags.", no_args_is_help=True)
config_app = typer.Typer(help="Show or change the saved configuration.", no_args_is_help=True)
app.add_typer(branch_app, name="branch")
app.add_typer(tag_app, name="tag")
app.add_typer(config_app, name="config")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# ---------------------------------------------------------------------- shared options
RepoArg = Annotated[
    str, typer.Argument(metavar="REPO", help="Path, s3://BUCKET/PREFIX or ORG/REPO.")
]
Endpoint = Annotated[
    str | None, typer.Option("--endpoint-url", help="S3-compatible endpoint.", show_default=False)
]
Region = Annotated[str | None, typer.Option("--region", help="S3 region.", show_default=False)]
Anonymous = Annotated[bool, typer.Option("--anonymous", help="Unsigned S3 requests.")]
AllowHttp = Annotated[bool, typer.Option("--allow-http", help="Allow a plain-http endpoint.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _open(
    repo: str,
    endpoint_url: str | None,
    region: str | None,
    anonymous: bool,
    allow_http: bool,
    *,
    create: bool = False,
) -> Repository:
    return open_repository(
        repo,
        endpoint_url=endpoint_url,
        region=region,
        anonymous=anonymous,
        allow_http=allow_http,
        create=create,
    )


def _print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


@contextlib.contextmanager
def _progress(what: str) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar on stderr when it is a terminal; None (no output) when piped."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn(f"{what} [progress.description]{{task.description}}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=False,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(option: str, text: str) -> datetime.datetime:
    """A cut-off from a duration before now (``30d``, ``12h``, ``90m``, ``2w``) or an ISO 8601
    time with a timezone.

    Raises
    ------
    InvalidInputError
        If it is neither, or names a naive time.
    """
    match = _DURATION.fullmatch(text)
    if match is not None:
        seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
        return datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds)
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{option} {text!r} is not a duration (like 30d, 12h, 90m, 2w) or an ISO 8601 time "
            "with a timezone (like 2024-01-31T00:00:00+00:00)",
            kind=ErrorKind.INVALID_ARGUMENT,
        ) from None
    if when.tzinfo is None:
        raise InvalidInputError(
            f"{option} {text!r} has no timezone; add one (like +00:00 or Z)",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    return when


def _resolve(repo: Repository, ref: str) -> str:
    """A snapshot id from a branch, tag or snapshot id."""
    if ref in repo.list_branches():
        return repo.lookup_branch(ref)
    if ref in repo.list_tags():
        return repo.lookup_tag(ref)
    if looks_like_id(ref):
        return repo.lookup_snapshot(ref).id
    from frazil._errors import RefNotFoundError

    raise RefNotFoundError(
        f"{ref!r} is neither a branch, a tag nor a snapshot id; branches: "
        f"{sorted(repo.list_branches())}, tags: {sorted(repo.list_tags())}",
        kind=ErrorKind.REF_NOT_FOUND,
    )


def _one_ref(repo: Repository, *, snapshot: str | None, branch: str | None, tag: str | None) -> str:
    given = [x for x in (snapshot, branch, tag) if x is not None]
    if len(given) > 1:
        raise InvalidInputError(
            "give at most one of --snapshot, --branch and --tag", kind=ErrorKind.INVALID_ARGUMENT
        )
    if snapshot is not None:
        return repo.lookup_snapshot(snapshot).id
    if tag is not None:
        return repo.lookup_tag(tag)
    return repo.lookup_branch(branch or "main")


def _info(info: Any) -> dict[str, Any]:
    return {
        "id": info.id,
        "parent_id": info.parent_id,
        "written_at": info.written_at.isoformat(),
        "message": info.message,
        "metadata": info.metadata,
    }


# ---------------------------------------------------------------------- commands
@app.command()
def init(
    repo: RepoArg,
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """Create a new repository (with a main branch)."""
    created = _open(repo, endpoint_url, region, anonymous, allow_http, create=True)
    out.print(f"created repository at {created.storage.describe()}")


@app.command()
def log(
    repo: RepoArg,
    branch: Annotated[str | None, typer.Option("--branch", "-b", help="Branch.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Tag.")] = None,
    snapshot: Annotated[str | None, typer.Option("--snapshot", help="Snapshot id.")] = None,
    number: Annotated[
        int | None, typer.Option("-n", "--max-count", min=1, help="At most N.")
    ] = None,
    as_json: Json = False,
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """The history of a branch (main by default), tag or snapshot, newest first."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    start = _one_ref(r, snapshot=snapshot, branch=branch, tag=tag)
    entries = []
    for info in r.ancestry(snapshot_id=start):
        entries.append(info)
        if number is not None and len(entries) >= number:
            break
    if as_json:
        _print_json([_info(i) for i in entries])
        return
    for info in entries:
        out.print(
            f"[yellow]{info.id}[/yellow]  {info.written_at:%Y-%m-%d %H:%M:%S}  {info.message}"
        )


@branch_app.command("list")
def branch_list(
    repo: RepoArg,
    as_json: Json = False,
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """List branches and their tips."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    rows = {b: r.lookup_branch(b) for b in sorted(r.list_branches())}
    if as_json:
        _print_json(rows)
        return
    table = Table("branch", "snapshot")
    for name, sid in rows.items():
        table.add_row(name, sid)
    out.print(table)


@branch_app.command("create")
def branch_create(
    repo: RepoArg,
    name: Annotated[str, typer.Argument(help="New branch.")],
    from_ref: Annotated[
        str, typer.Option("--from", help="Branch, tag or snapshot to start at.")
    ] = "main",
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """Create a branch."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    sid = _resolve(r, from_ref)
    r.create_branch(name, sid)
    out.print(f"created branch {name} at {sid}")


@branch_app.command("delete")
def branch_delete(
    repo: RepoArg,
    name: Annotated[str, typer.Argument(help="Branch to delete.")],
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """Delete a branch (its snapshots stay until garbage collection)."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    r.delete_branch(name)
    out.print(f"deleted branch {name}")


@branch_app.command("reset")
def branch_reset(
    repo: RepoArg,
    name: Annotated[str, typer.Argument(help="Branch to move.")],
    to: Annotated[str, typer.Argument(help="Branch, tag or snapshot to point it at.")],
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """Point a branch at another snapshot."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    sid = _resolve(r, to)
    r.reset_branch(name, sid)
    out.print(f"reset branch {name} to {sid}")


@tag_app.command("list")
def tag_list(
    repo: RepoArg,
    as_json: Json = False,
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """List tags and their snapshots."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    rows = {t: r.lookup_tag(t) for t in sorted(r.list_tags())}
    if as_json:
        _print_json(rows)
        return
    table = Table("tag", "snapshot")
    for name, sid in rows.items():
        table.add_row(name, sid)
    out.print(table)


@tag_app.command("create")
def tag_create(
    repo: RepoArg,
    name: Annotated[str, typer.Argument(help="New tag.")],
    at: Annotated[str, typer.Argument(help="Branch, tag or snapshot to tag.")] = "main",
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """Create an immutable tag."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    sid = _resolve(r, at)
    r.create_tag(name, sid)
    out.print(f"created tag {name} at {sid}")


@tag_app.command("delete")
def tag_delete(
    repo: RepoArg,
    name: Annotated[str, typer.Argument(help="Tag to delete.")],
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """Delete a tag (its name can never be used again)."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    r.delete_tag(name)
    out.print(f"deleted tag {name}")


@app.command()
def show(
    repo: RepoArg,
    snapshot: Annotated[str | None, typer.Option("--snapshot", help="Snapshot id.")] = None,
    branch: Annotated[str | None, typer.Option("--branch", "-b", help="Branch.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Tag.")] = None,
    as_json: Json = False,
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """The tree of groups and arrays: shape, chunks, dtype, chunk count and bytes."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    sid = _one_ref(r, snapshot=snapshot, branch=branch, tag=tag)
    rows = sync(node_table(context_of(r).io, sid))
    if as_json:
        _print_json({"snapshot_id": sid, "nodes": rows})
        return
    tree = Tree(f"[bold]/[/bold]  (snapshot {sid})")
    branches: dict[str, Tree] = {"/": tree}
    for row in rows:
        path = row["path"]
        if path == "/":
            continue
        parent = path.rsplit("/", 1)[0] or "/"
        name = path.rsplit("/", 1)[1]
        if row["kind"] == "group":
            label = f"[bold]{name}/[/bold]"
        else:
            label = (
                f"{name}  shape={tuple(row['shape'] or ())} chunks={tuple(row['chunks'] or ())} "
                f"dtype={row['dtype']}  {row['chunk_count']} chunks, {_size(row['bytes'])}"
            )
        branches[path] = branches.get(parent, tree).add(label)
    out.print(tree)


@app.command()
def diff(
    repo: RepoArg,
    from_ref: Annotated[str, typer.Argument(metavar="FROM", help="Branch, tag or snapshot.")],
    to_ref: Annotated[str, typer.Argument(metavar="TO", help="Branch, tag or snapshot.")],
    as_json: Json = False,
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """What changed from FROM to TO (FROM must be in the history of TO)."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    d = r.diff(from_snapshot_id=_resolve(r, from_ref), to_snapshot_id=_resolve(r, to_ref))
    if as_json:
        _print_json(
            {
                "new_groups": sorted(d.new_groups),
                "new_arrays": sorted(d.new_arrays),
                "deleted_groups": sorted(d.deleted_groups),
                "deleted_arrays": sorted(d.deleted_arrays),
                "updated_groups": sorted(d.updated_groups),
                "updated_arrays": sorted(d.updated_arrays),
                "moved_nodes": [list(m) for m in d.moved_nodes],
                "updated_chunks": d.updated_chunks,
            }
        )
        return
    out.print(repr(d), markup=False)


@app.command()
def check(
    repo: RepoArg,
    level: Annotated[int, typer.Option("--level", help="1-4 (see the Python API).")] = 1,
    all_errors: Annotated[
        bool, typer.Option("--all-errors", help="Find everything, not only the first.")
    ] = False,
    report: Annotated[
        str | None, typer.Option("--report", help="Write the JSON report to this file.")
    ] = None,
    branch: Annotated[str | None, typer.Option("--branch", help="Only this branch.")] = None,
    as_json: Json = False,
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """Check the repository's integrity; exit 1 if anything was found."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    with _progress("checking") as progress:
        result = r.check_integrity(
            level,
            stop_on_error=not all_errors,
            to_file=report or False,
            branch=branch,
            progress=progress,
        )
    if as_json:
        _print_json(result.to_dict())
    else:
        out.print(str(result), markup=False)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def du(
    repo: RepoArg,
    as_json: Json = False,
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """Bytes of the chunks reachable from any branch or tag, by kind."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    with _progress("reading") as progress:
        stats = r.chunk_storage_stats(progress=progress)
    if as_json:
        _print_json(stats.to_dict())
        return
    table = Table("kind", "chunks", "bytes", "size")
    for kind in ("native", "inline", "virtual"):
        n = getattr(stats, f"{kind}_bytes")
        table.add_row(kind, str(getattr(stats, f"{kind}_chunks")), str(n), _size(n))
    total = stats.total_bytes()
    table.add_row("total", "", str(total), _size(total))
    out.print(table)


@app.command()
def expire(
    repo: RepoArg,
    older_than: Annotated[
        str, typer.Option("--older-than", help="Duration (30d, 12h) or ISO time.")
    ],
    delete_expired_branches: Annotated[
        bool, typer.Option("--delete-expired-branches", help="Delete branches only expired.")
    ] = False,
    delete_expired_tags: Annotated[
        bool, typer.Option("--delete-expired-tags", help="Delete tags only expired.")
    ] = False,
    as_json: Json = False,
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """Release snapshots older than a cut-off from history (run gc to reclaim space)."""
    cutoff = parse_when("--older-than", older_than)
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    expired = r.expire_snapshots(
        cutoff,
        delete_expired_branches=delete_expired_branches,
        delete_expired_tags=delete_expired_tags,
    )
    if as_json:
        _print_json({"older_than": cutoff.isoformat(), "expired": sorted(expired)})
        return
    out.print(f"expired {len(expired)} snapshot(s) older than {cutoff:%Y-%m-%d %H:%M:%S %Z}")


@app.command()
def gc(
    repo: RepoArg,
    older_than: Annotated[
        str, typer.Option("--older-than", help="Only objects older than this (7d, ISO time).")
    ] = "7d",
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete (no dry run, no prompt).")
    ] = False,
    as_json: Json = False,
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """Garbage-collect unreachable objects: a dry run unless --yes (or confirmed on a
    terminal)."""
    cutoff = parse_when("--older-than", older_than)
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    with _progress("scanning") as progress:
        if progress is not None:
            progress("objects", 0, 1)
        plan = r.garbage_collect(cutoff, dry_run=True)
        if progress is not None:
            progress("objects", 1, 1)
    fields = _counts(plan)
    objects = sum(v for k, v in fields.items() if k != "bytes_deleted")
    interactive = sys.stdin.isatty() and sys.stderr.isatty() and not as_json
    if not yes and interactive and objects:
        _print_plan(fields, objects, dry=True)
        yes = typer.confirm(f"Delete {objects} object(s), {_size(plan.bytes_deleted)}?")
        if not yes:
            out.print("nothing deleted")
            return
    if not yes:
        if as_json:
            _print_json({"dry_run": True, **fields})
        else:
            _print_plan(fields, objects, dry=True)
            out.print("dry run: nothing deleted (pass --yes to delete)")
        return
    with _progress("deleting") as progress:
        if progress is not None:
            progress("objects", 0, max(objects, 1))
        done = r.garbage_collect(cutoff)
        if progress is not None:
            progress("objects", max(objects, 1), max(objects, 1))
    result = _counts(done)
    if as_json:
        _print_json({"dry_run": False, **result})
    else:
        _print_plan(result, sum(v for k, v in result.items() if k != "bytes_deleted"), dry=False)


def _counts(summary: object) -> dict[str, int]:
    """The integer counts of a GC summary (``..._deleted``), in their declared order."""
    return {
        f.name: int(getattr(summary, f.name))
        for f in dataclasses.fields(summary)  # type: ignore[arg-type]
        if f.name.endswith("_deleted") and isinstance(getattr(summary, f.name), int)
    }


def _print_plan(fields: dict[str, int], objects: int, *, dry: bool) -> None:
    verb = "would delete" if dry else "deleted"
    parts = ", ".join(
        f"{v} {k.removesuffix('_deleted').replace('_', ' ')}"
        for k, v in fields.items()
        if k != "bytes_deleted" and v
    )
    out.print(
        f"{verb} {objects} object(s) ({parts or 'nothing'}), {_size(fields['bytes_deleted'])}"
    )


@app.command("ops-log")
def ops_log(
    repo: RepoArg,
    number: Annotated[
        int | None, typer.Option("-n", "--max-count", min=1, help="At most N.")
    ] = None,
    as_json: Json = False,
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """The operations log: every ref change, newest first."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    entries = []
    for update in r.ops_log():
        entries.append(update)
        if number is not None and len(entries) >= number:
            break
    if as_json:
        _print_json([u.to_dict() for u in entries])
        return
    table = Table("time", "kind", "ref", "from", "to", "job")
    for u in entries:
        table.add_row(
            f"{u.updated_at:%Y-%m-%d %H:%M:%S}",
            u.kind.code,
            u.name or "",
            u.previous_snap_id or "",
            u.new_snap_id or "",
            u.job or "",
        )
    out.print(table)


@app.command()
def jobs(
    repo: RepoArg,
    as_json: Json = False,
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """Coordinator jobs and their status."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    records = r.list_jobs()
    if as_json:
        _print_json([rec.to_dict() for rec in records])
        return
    table = Table("job", "status", "branch", "shards", "started", "snapshot")
    for rec in records:
        table.add_row(
            rec.name,
            rec.status,
            rec.branch,
            f"{rec.shards_done}/{rec.shards_total}",
            f"{rec.started_at:%Y-%m-%d %H:%M:%S}",
            rec.snapshot_id or "",
        )
    out.print(table)


@config_app.command("show")
def config_show(
    repo: RepoArg,
    as_json: Json = False,
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """The configuration saved in the repository (settings that differ from defaults)."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    saved = r.config.to_dict()
    if as_json:
        _print_json(saved)
        return
    if not saved:
        out.print("(all defaults)")
    for key, value in _flatten(saved):
        out.print(f"{key} = {json.dumps(value)}", markup=False)


@config_app.command("flags")
def config_flags(
    repo: RepoArg,
    as_json: Json = False,
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """The feature flags: which operations the repository allows (set them from Python
    with repo.set_feature_flag(name, True | False | None))."""
    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    flags = r.feature_flags()
    if as_json:
        _print_json([{**dataclasses.asdict(f), "enabled": f.enabled} for f in flags])
        return
    table = Table("flag", "id", "enabled", "setting")
    for f in flags:
        setting = "default" if f.setting is None else ("on" if f.setting else "off")
        table.add_row(f.name, str(f.id), "yes" if f.enabled else "no", setting)
    out.print(table)


def _flatten(doc: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@config_app.command("set")
def config_set(
    repo: RepoArg,
    key: Annotated[str, typer.Argument(help="Dotted setting, e.g. inline_chunk_threshold_bytes.")],
    value: Annotated[str, typer.Argument(help="JSON value (a bare word is a string).")],
    endpoint_url: Endpoint = None,
    region: Region = None,
    anonymous: Anonymous = False,
    allow_http: AllowHttp = False,
) -> None:
    """Change one setting and save the configuration."""
    from frazil._config import RepositoryConfig

    r = _open(repo, endpoint_url, region, anonymous, allow_http)
    doc = r.config.to_dict()
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = value
    node = doc
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise InvalidInputError(f"setting {key!r}: {part!r} is not a group of settings")
        node = child
    node[parts[-1]] = parsed
    try:
        config = RepositoryConfig.from_dict(doc)
    except (TypeError, KeyError) as exc:
        raise InvalidInputError(
            f"cannot set {key!r} to {value!r}: {exc}", kind=ErrorKind.INVALID_CONFIG
        ) from exc
    r.reopen(config).save_config()
    out.print(f"{key} = {json.dumps(parsed)}", markup=False)


def _mount_catalog() -> None:
    """``frazil repo ...`` and ``frazil bucket ...`` when the catalog provides them."""
    try:
        module = importlib.import_module("frazil.catalog._cli")
    except ImportError:
        return
    for name, command in (("repo_app", "repo"), ("bucket_app", "bucket")):
        sub = getattr(module, name, None)
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=command)


_mount_catalog()


# ---------------------------------------------------------------------- entry point
def exit_code_for(error: BaseException) -> int:
    """The documented exit code of an error (see ``frazil --help``)."""
    match error:
        case NotFoundError():
            return 3
        case InvalidInputError() | ReadOnlyError():
            return 2
        case ConflictError():
            return 1
        case _:
            return 1


def main(argv: list[str] | None = None) -> None:
    """Run the ``frazil`` command (the console script)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        # typer reports usage errors itself (exit code 2) and exits with the code of
        # typer.Exit; frazil's errors come here as exceptions
        app(args=args, prog_name="frazil")
    except FrazilError as exc:
        if debug:
            traceback.print_exc()
        message = " ".join(str(exc).split())
        sys.stderr.write(f"frazil: error: {message}\n")
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        sys.stderr.write("frazil: interrupted\n")
        sys.exit(130)
