"""Progress of ``job.map``: shards done / total, MB written, rate.

Shown on a terminal or in a notebook, silent when the output is piped (or with
``progress=False``), forced with ``progress=True``. With a Dask client the bar is Dask's
own (``distributed.progress`` over the shard futures), followed by a one-line summary;
otherwise a rich progress bar on stderr (a plain status line if rich is not installed).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

__all__ = ["MapProgress", "make_progress", "should_show"]

_MB = 1e6


def _in_notebook() -> bool:
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def should_show(setting: bool | None, *, stream: Any = None) -> bool:
    """Whether to show progress: forced by True/False, else on a terminal or notebook."""
    if setting is not None:
        return setting
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty()) or _in_notebook()


class MapProgress:
    """Silent progress; the base of the visible ones."""

    def __init__(self, *, label: str, total: int, done: int) -> None:
        self.label = label
        self.total = total
        self.done = done
        self.nbytes = 0
        self.failed = 0
        self.started = time.monotonic()

    def watch(self, handles: list[Any]) -> None:
        """The executor's task handles of the shards that run (Dask shows them)."""

    def advance(self, nbytes: int, *, failed: bool = False) -> None:
        """One shard finished (or failed for good) after writing ``nbytes``."""
        if failed:
            self.failed += 1
        else:
            self.done += 1
            self.nbytes += nbytes
        self._draw()

    def close(self, *, nbytes: int | None = None) -> None:
        """The map ended; ``nbytes`` is the total written, when only known now."""
        if nbytes is not None:
            self.nbytes = nbytes
        self._end()

    def _draw(self) -> None:
        pass

    def _end(self) -> None:
        pass

    def summary(self) -> str:
        seconds = max(time.monotonic() - self.started, 1e-9)
        mb = self.nbytes / _MB
        failed = f", {self.failed} failed" if self.failed else ""
        return (
            f"{self.label}: {self.done}/{self.total} shards{failed}, {mb:.1f} MB in "
            f"{seconds:.1f} s ({mb / seconds:.1f} MB/s)"
        )


class _RichProgress(MapProgress):
    def __init__(self, *, label: str, total: int, done: int) -> None:
        super().__init__(label=label, total=total, done=done)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("shards"),
            TextColumn("{task.fields[mb]:.1f} MB"),
            TextColumn("{task.fields[rate]:.1f} MB/s"),
            TimeElapsedColumn(),
            console=Console(file=sys.stderr),
        )
        self._task = self._bar.add_task(label, total=total, completed=done, mb=0.0, rate=0.0)
        self._bar.start()

    def _draw(self) -> None:
        mb = self.nbytes / _MB
        rate = mb / max(time.monotonic() - self.started, 1e-9)
        self._bar.update(self._task, completed=self.done, mb=mb, rate=rate)

    def _end(self) -> None:
        self._draw()
        self._bar.stop()


class _LineProgress(MapProgress):
    """Without rich: one status line on stderr, rewritten in place."""

    def _draw(self) -> None:
        sys.stderr.write("\r" + self.summary())
        sys.stderr.flush()

    def _end(self) -> None:
        sys.stderr.write("\r" + self.summary() + "\n")
        sys.stderr.flush()


class _DaskProgress(MapProgress):
    """Dask's own progress bar over the shard futures, then a summary line."""

    def __init__(self, *, label: str, total: int, done: int) -> None:
        super().__init__(label=label, total=total, done=done)
        self._thread: threading.Thread | None = None

    def watch(self, handles: list[Any]) -> None:
        if not handles:
            return
        from distributed import progress

        if _in_notebook():
            from IPython.display import display

            display(progress(handles, notebook=True))  # type: ignore[no-untyped-call]
            return
        # in a console distributed.progress blocks until the futures are done: draw it
        # in a thread while the map loop handles results
        self._thread = threading.Thread(
            target=progress, args=(handles,), kwargs={"notebook": False}, daemon=True
        )
        self._thread.start()

    def _end(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=5)
            sys.stdout.write("\n")
            sys.stdout.flush()
        sys.stderr.write(self.summary() + "\n")
        sys.stderr.flush()


def make_progress(
    setting: bool | None, *, dask: bool, label: str, total: int, done: int
) -> MapProgress:
    """The progress display of one ``map`` call."""
    if not should_show(setting, stream=sys.stdout if dask else sys.stderr):
        return MapProgress(label=label, total=total, done=done)
    if dask:
        return _DaskProgress(label=label, total=total, done=done)
    try:
        import rich  # noqa: F401 -- only to learn whether it is installed
    except ImportError:
        return _LineProgress(label=label, total=total, done=done)
    return _RichProgress(label=label, total=total, done=done)
