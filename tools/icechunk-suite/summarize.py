#!/usr/bin/env python3
"""Summarize ``run`` outputs as markdown.

Usage: summarize.py FRAZIL_OUTDIR [ICECHUNK_OUTDIR]

Prints totals per system (all files, and without the files for areas frazil does not
implement), a per-file table, and the failures grouped by a normalized reason. With both
folders the grouped list holds the tests that pass on Icechunk and fail on frazil.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

NOT_IMPLEMENTED = (
    "test_can_read_old",
    "test_migration",
    "test_format_universality",
    "test_key_layout",
    "test_redirect_storage",
    "test_request_headers",
    "test_array_chunk_iterator",
)
"""Files for areas frazil does not implement (Icechunk on-disk formats, Rust internals)."""

OUTCOMES = ("passed", "failed", "error", "skipped")


@dataclass(frozen=True)
class Result:
    file: str
    test: str
    outcome: str
    message: str
    text: str


def load(outdir: Path) -> tuple[dict[str, Result], dict[str, tuple[int, int]]]:
    """Test id -> result from the junit files, and file -> (exit code, seconds)."""
    results: dict[str, Result] = {}
    for xml in sorted((outdir / "junit").glob("*.xml")):
        file = xml.stem
        for case in ET.parse(xml).iter("testcase"):
            cls, name = case.get("classname", ""), case.get("name", "")
            test = f"{cls}::{name}" if cls else name
            outcome, message, text = "passed", "", ""
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    outcome = "failed" if child.tag == "failure" else child.tag
                    message, text = child.get("message", ""), child.text or ""
                    break
            results[test] = Result(file, test, outcome, message, text)
    status: dict[str, tuple[int, int]] = {}
    status_file = outdir / "status.txt"
    if status_file.exists():
        for line in status_file.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] != "total":
                status[parts[0]] = (int(parts[1]), int(parts[2]))
    return results, status


def detail(result: Result) -> str:
    """The line that says what went wrong: the message, or the last ``E`` line."""
    lines = [ln for ln in result.message.splitlines() if ln.strip()]
    if not lines or lines[0] == "collection failure" or lines[0].startswith("failed on"):
        e_lines = [ln[1:].strip() for ln in result.text.splitlines() if ln.startswith("E ")]
        lines = e_lines[-1:] or lines
    return lines[0].strip() if lines else ""


RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Timeout \(>[\d.]+s\) from pytest-timeout"), "timeout (per-test limit)"),
    (re.compile(r"module '([\w.]+)' has no attribute '(\w+)'"), r"missing name \1.\2"),
    (re.compile(r"cannot import name '(\w+)' from '([\w.]+)'"), r"missing name \2.\1"),
    (re.compile(r"No module named '([\w.]+)'"), r"missing module \1"),
    (re.compile(r"'(\w+)' object has no attribute '(\w+)'"), r"missing attribute \1.\2"),
    (re.compile(r"type object '(\w+)' has no attribute '(\w+)'"), r"missing attribute \1.\2"),
    (
        re.compile(r"(\w+)\(\) got an unexpected keyword argument '(\w+)'"),
        r"unexpected keyword \2 (\1)",
    ),
    (re.compile(r"got an unexpected keyword argument '(\w+)'"), r"unexpected keyword \1"),
    (re.compile(r"(\w+)\(\) missing \d+ required .*argument"), r"missing required argument (\1)"),
    (re.compile(r"Regex pattern did not match"), "raises: regex did not match"),
    (re.compile(r"DID NOT RAISE (.*)"), r"DID NOT RAISE \1"),
    (re.compile(r"DID NOT WARN. No warnings of type \(<class '([\w.]+)'>"), r"DID NOT WARN \1"),
    (re.compile(r"^(AssertionError|assert )"), "assertion failed"),
    (re.compile(r"^([\w.]+(?:Error|Exception|Warning|Exit|Interrupt))\b"), r"raised \1"),
]


def reason(result: Result) -> str:
    line = detail(result)
    for pattern, label in RULES:
        match = pattern.search(line)
        if match:
            if label == "assertion failed":  # too broad alone: name the test function
                return f"assertion failed in {result.test.split('[')[0].rsplit('.', 1)[-1]}"
            return match.expand(label)
    return line.split(":", 1)[0][:60] or "(no message)"


def example(result: Result) -> str:
    line = detail(result)
    if "Regex pattern did not match" in result.message:  # show what was expected
        want = [
            ln.strip()
            for ln in result.message.splitlines()
            if ln.strip()[:6] in ("Regex:", "Input:")
        ]
        line = " / ".join(want) or line
    return line.replace("|", "\\|")[:200]


def not_run(
    file: str, test: str, results: dict[str, Result], status: dict[str, tuple[int, int]]
) -> Result:
    """Stand-in for a test frazil never ran: its file's collection error, or a timeout."""
    collection = results.get(f"tests.{file.replace('__', '.')}")
    if collection is not None and collection.outcome == "error":
        return Result(file, test, "missing", collection.message, collection.text)
    if status.get(file, (0, 0))[0] in (124, 137):
        return Result(file, test, "missing", "not run on frazil: file timeout", "")
    return Result(file, test, "missing", "not run on frazil", "")


def totals(results: dict[str, Result], files: set[str] | None = None) -> Counter[str]:
    return Counter(r.outcome for r in results.values() if files is None or r.file in files)


def row(label: str, counts: Counter[str]) -> str:
    return f"| {label} | " + " | ".join(str(counts[o]) for o in OUTCOMES) + " |"


def main(dirs: list[Path]) -> None:
    systems = {name: load(d) for name, d in zip(("frazil", "icechunk"), dirs, strict=False)}
    files = sorted(
        {r.file for res, _ in systems.values() for r in res.values()}
        | {f for _, st in systems.values() for f in st}
    )
    implemented = {f for f in files if f not in NOT_IMPLEMENTED}

    print("## Totals\n")
    print("| system | " + " | ".join(OUTCOMES) + " |")
    print("|---|" + "---|" * len(OUTCOMES))
    for name, (res, _) in systems.items():
        print(row(f"{name}, all files", totals(res)))
        print(row(f"{name}, implemented areas", totals(res, implemented)))

    print("\n## Per file\n")
    names = list(systems)
    print("| file | " + " | ".join(f"{n} pass/fail/err/skip (exit, s)" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for f in files:
        cells = []
        for res, st in systems.values():
            c = Counter(r.outcome for r in res.values() if r.file == f)
            rc, secs = st.get(f, (-1, 0))
            flag = " **file timeout**" if rc in (124, 137) else ""
            cells.append(
                f"{c['passed']}/{c['failed']}/{c['error']}/{c['skipped']} ({rc}, {secs}){flag}"
            )
        print(f"| {f} | " + " | ".join(cells) + " |")

    frazil, _ = systems["frazil"]
    if "icechunk" in systems:
        icechunk, _ = systems["icechunk"]
        title = "Pass on Icechunk, fail on frazil"
        frazil_status = systems["frazil"][1]
        bad = [
            frazil.get(t) or not_run(r.file, t, frazil, frazil_status)
            for t, r in icechunk.items()
            if r.outcome == "passed"
            and (t not in frazil or frazil[t].outcome in ("failed", "error"))
        ]
    else:
        title = "Failures on frazil"
        bad = [r for r in frazil.values() if r.outcome in ("failed", "error", "missing")]
    groups: dict[str, list[Result]] = defaultdict(list)
    for r in bad:
        groups[reason(r)].append(r)
    print(f"\n## {title}, by reason ({len(bad)} tests)\n")
    print("| count | reason | implemented-area count | examples |")
    print("|---|---|---|---|")
    for label, rs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        n_impl = sum(r.file in implemented for r in rs)
        shown = "<br>".join(f"`{r.test}`: {example(r)}" for r in rs[:2])
        print(f"| {len(rs)} | {label.replace('|', '/')} | {n_impl} | {shown} |")


if __name__ == "__main__":
    if not 2 <= len(sys.argv) <= 3:
        sys.exit(__doc__)
    main([Path(a) for a in sys.argv[1:]])
