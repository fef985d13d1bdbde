"""The ``frazil repo`` and ``frazil bucket`` commands: thin typer apps over :class:`Client`.

Every command takes ``--catalog URL`` (default: ``$FRAZIL_CATALOG`` or the user's SQLite
catalog); read commands take ``--json`` for scripts. Errors are frazil errors, raised to the
``frazil`` command that mounts these apps: it prints them in one line with its documented
exit codes. Deleting needs ``--yes`` (exit code 2 without it, nothing deleted).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from frazil.catalog._sync_client import Client

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["bucket_app", "repo_app"]

repo_app = typer.Typer(help="Repositories in the catalog.", no_args_is_help=True)
bucket_app = typer.Typer(help="Bucket configs of an org.", no_args_is_help=True)

CatalogOpt = Annotated[
    str | None,
    typer.Option("--catalog", envvar="FRAZIL_CATALOG", help="Catalog database URL or path."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
YesOpt = Annotated[bool, typer.Option("--yes", help="Confirm the deletion (required).")]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if hasattr(value, "full_name"):
            out["full_name"] = value.full_name
        if hasattr(value, "human"):
            out["human"] = value.human
        return out
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _emit(value: Any, *, as_json: bool, lines: Callable[[], Iterator[str]]) -> None:
    if as_json:
        typer.echo(json.dumps(_plain(value), indent=2, sort_keys=True))
    else:
        for line in lines():
            typer.echo(line)


def _run[T](catalog: str | None, fn: Callable[[Client], T]) -> T:
    # frazil errors go up to the ``frazil`` command, which prints them in one line with
    # the documented exit code (and the traceback with --debug)
    with Client(catalog) as client:
        return fn(client)


def _json_arg(text: str | None, what: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        typer.echo(f"frazil: error: {what} is not valid JSON: {exc}", err=True)
        raise typer.Exit(2) from None
    if not isinstance(value, dict):
        typer.echo(f"frazil: error: {what} must be a JSON object", err=True)
        raise typer.Exit(2)
    return value


# ---------------------------------------------------------------------------- repo
@repo_app.command("list")
def repo_list(
    org: Annotated[str | None, typer.Argument(help="Only this org.")] = None,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List repositories (of one org, or all)."""
    repos = _run(catalog, lambda c: c.list_repos(org) if org else c.list_all_repos())
    _emit(
        repos,
        as_json=as_json,
        lines=lambda: (
            f"{r.full_name}\t{r.status.value}\t{r.bucket_config_nickname or '-'}\t{r.location}"
            for r in repos
        ),
    )


@repo_app.command("create")
def repo_create(
    name: Annotated[str, typer.Argument(help="org/repo")],
    bucket: Annotated[str | None, typer.Option(help="Bucket config nickname.")] = None,
    prefix: Annotated[str | None, typer.Option(help="Prefix inside the bucket.")] = None,
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    metadata: Annotated[str | None, typer.Option(help="Metadata as a JSON object.")] = None,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a repository and register it."""
    meta = _json_arg(metadata, "--metadata")

    def create(client: Client) -> Any:
        client.create_repo(
            name,
            bucket_config_nickname=bucket,
            prefix=prefix,
            description=description,
            metadata=meta,
        )
        return client.get_repo_object(name)

    entry = _run(catalog, create)
    _emit(entry, as_json=as_json, lines=lambda: iter([f"created {name} at {entry.location}"]))


@repo_app.command("show")
def repo_show(
    name: Annotated[str, typer.Argument(help="org/repo")],
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a repository's catalog entry."""
    entry = _run(catalog, lambda c: c.get_repo_object(name))
    plain = _plain(entry)
    _emit(entry, as_json=as_json, lines=lambda: (f"{k}: {plain[k]}" for k in sorted(plain)))


@repo_app.command("update")
def repo_update(
    name: Annotated[str, typer.Argument(help="org/repo")],
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    metadata: Annotated[str | None, typer.Option(help="New metadata (JSON object).")] = None,
    status: Annotated[str | None, typer.Option(help="online, read-only or archived.")] = None,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a repository's description, metadata or status."""
    changes: dict[str, Any] = {}
    if description is not None:
        changes["description"] = description
    if metadata is not None:
        changes["metadata"] = _json_arg(metadata, "--metadata")
    if status is not None:
        changes["status"] = status
    entry = _run(catalog, lambda c: c.update_repo(name, **changes))
    _emit(entry, as_json=as_json, lines=lambda: iter([f"updated {name} ({entry.status.value})"]))


@repo_app.command("delete")
def repo_delete(
    name: Annotated[str, typer.Argument(help="org/repo")],
    yes: YesOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Delete a repository and every object under its prefix (needs --yes)."""
    if not yes:
        typer.echo(
            f"frazil: error: deleting {name} removes all its data; pass --yes to confirm",
            err=True,
        )
        raise typer.Exit(2)
    _run(catalog, lambda c: c.delete_repo(name, imsure=True, imreallysure=True))
    typer.echo(f"deleted {name}")


# ---------------------------------------------------------------------------- bucket
@bucket_app.command("list")
def bucket_list(
    org: Annotated[str, typer.Argument(help="The org.")],
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List an org's bucket configs."""
    buckets = _run(catalog, lambda c: c.list_bucket_configs(org))
    _emit(
        buckets,
        as_json=as_json,
        lines=lambda: (
            f"{b.nickname}\t{b.uri}\t{'default' if b.is_default else ''}".rstrip() for b in buckets
        ),
    )


@bucket_app.command("create")
def bucket_create(
    org: Annotated[str, typer.Argument(help="The org.")],
    nickname: Annotated[str, typer.Argument(help="The bucket config's nickname.")],
    uri: Annotated[str, typer.Argument(help="file:///dir, s3://bucket/prefix or memory://x")],
    extra_config: Annotated[
        str | None, typer.Option("--extra-config", help="Storage options (JSON object).")
    ] = None,
    auth_config: Annotated[
        str | None, typer.Option("--auth-config", help='e.g. {"method": "from_env"}')
    ] = None,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a bucket config (creates no bucket; never give it a secret)."""
    extra = _json_arg(extra_config, "--extra-config")
    auth = _json_arg(auth_config, "--auth-config")
    bucket = _run(
        catalog,
        lambda c: c.create_bucket_config(
            org=org, nickname=nickname, uri=uri, extra_config=extra, auth_config=auth
        ),
    )
    _emit(bucket, as_json=as_json, lines=lambda: iter([f"created {org}/{nickname} -> {uri}"]))


@bucket_app.command("show")
def bucket_show(
    org: Annotated[str, typer.Argument(help="The org.")],
    nickname: Annotated[str, typer.Argument(help="The nickname.")],
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a bucket config and the repositories in it."""

    def show(client: Client) -> dict[str, Any]:
        bucket = client.get_bucket_config(org=org, nickname=nickname)
        repos = client.list_repos_for_bucket_config(org=org, nickname=nickname)
        return {"bucket": bucket, "repos": [r.full_name for r in repos]}

    shown = _run(catalog, show)
    plain = _plain(shown["bucket"])
    _emit(
        shown,
        as_json=as_json,
        lines=lambda: iter(
            [*(f"{k}: {plain[k]}" for k in sorted(plain)), f"repos: {', '.join(shown['repos'])}"]
        ),
    )


@bucket_app.command("set-default")
def bucket_set_default(
    org: Annotated[str, typer.Argument(help="The org.")],
    nickname: Annotated[str, typer.Argument(help="The nickname.")],
    catalog: CatalogOpt = None,
) -> None:
    """Make a bucket config the org's default for new repositories."""
    _run(catalog, lambda c: c.set_default_bucket_config(org=org, nickname=nickname))
    typer.echo(f"{org}/{nickname} is the default")


@bucket_app.command("delete")
def bucket_delete(
    org: Annotated[str, typer.Argument(help="The org.")],
    nickname: Annotated[str, typer.Argument(help="The nickname.")],
    yes: YesOpt = False,
    catalog: CatalogOpt = None,
) -> None:
    """Unregister a bucket config no repository uses (needs --yes; deletes no data)."""
    if not yes:
        typer.echo(f"frazil: error: pass --yes to delete bucket config {org}/{nickname}", err=True)
        raise typer.Exit(2)
    _run(
        catalog,
        lambda c: c.delete_bucket_config(
            org=org, nickname=nickname, imsure=True, imreallysure=True
        ),
    )
    typer.echo(f"deleted bucket config {org}/{nickname}")
