"""The benchmark harness: ``python -m benchmarks [--quick] [--only W1,W4] [--repeat 3]``.

Every (workload, variant, system, repetition) runs in a fresh subprocess; the table shows
the median of the repetitions and the ratios frazil / Icechunk and frazil / plain Zarr.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

from benchmarks.workloads import WORKLOADS

HERE = pathlib.Path(__file__).parent


def start_moto() -> tuple[Any, str] | None:
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        return None
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket="frazil-bench")
    return server, endpoint


def run_one(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks._runner", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=HERE.parent,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f}s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    return {"ok": False, "error": f"runner exited {proc.returncode}: {proc.stderr[-1500:]}"}


def fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return ""
    return f"{a / b:.2f}x"


def byte_compile(systems: list[str]) -> None:
    """Byte-compile every system's package before anything is timed.

    An installed wheel has its byte-code from the install; an editable install (frazil's,
    here) has none until a process writes it, and none does under PYTHONDONTWRITEBYTECODE.
    Without this, every process the harness starts would compile frazil's source again and
    charge it to frazil's import, first use and Dask workers, which users do not pay.
    """
    import compileall
    import importlib.util

    for package in sorted({system.split("-")[0] for system in systems}):
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(location, quiet=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="every workload tiny (for tests)")
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W5")
    parser.add_argument("--systems", default="frazil,frazil-s3,icechunk,icechunk-s3,zarr")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions (default 3, quick 1)")
    parser.add_argument("--json", default=None, help="where to write the results")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    wanted = [w.strip() for w in args.only.split(",") if w.strip()] or list(WORKLOADS)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    byte_compile(systems)
    on_s3 = [s for s in ("frazil-s3", "icechunk-s3") if s in systems]
    moto = start_moto() if on_s3 else None
    options: dict[str, dict[str, Any]] = {}
    for system in on_s3:
        if moto is not None:
            options[system] = {"s3_endpoint": moto[1], "s3_bucket": "frazil-bench"}
        else:
            systems.remove(system)

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    failures = 0
    for key in wanted:
        workload = WORKLOADS[key]
        for variant in workload.variants(args.quick):
            results: dict[str, list[dict[str, float]]] = {}
            errors: dict[str, str] = {}
            # repetitions interleave the systems and rotate who goes first (A B C, B C A,
            # C A B, ...), so that drift of a noisy machine and whatever the previous run
            # left behind (write-back, freed page cache) hit every system alike
            present = [s for s in variant.systems if s in systems]
            for rep in range(repeat):
                turn = rep % len(present) if present else 0
                for system in present[turn:] + present[:turn]:
                    if system in errors:
                        continue
                    spec = {
                        "workload": key,
                        "system": system,
                        "params": variant.params,
                        "quick": args.quick,
                        "options": options.get(system, {}),
                    }
                    outcome = run_one(spec, args.timeout)
                    if outcome.get("ok"):
                        results.setdefault(system, []).append(outcome["metrics"])
                    else:
                        errors[system] = outcome.get("error", "?")
                        failures += 1
                        print(
                            f"  {key} {variant.label} {system}: {errors[system]}", file=sys.stderr
                        )
                        if "trace" in outcome:
                            print(outcome["trace"], file=sys.stderr)
            for metric, better in workload.metrics.items():
                medians = {
                    s: statistics.median(m[metric] for m in runs if metric in m)
                    for s, runs in results.items()
                    if any(metric in m for m in runs)
                }
                if not medians:
                    continue
                rows.append(
                    {
                        "workload": key,
                        "variant": variant.label,
                        "metric": metric,
                        "better": better,
                        "values": medians,
                        "errors": errors,
                    }
                )
            print(
                f"done {key} {variant.label} ({time.perf_counter() - started:.0f}s)",
                file=sys.stderr,
            )
    elapsed = time.perf_counter() - started
    if moto is not None:
        moto[0].stop()

    header = [
        "workload",
        "variant",
        "metric",
        "better",
        "frazil",
        "frazil-s3",
        "icechunk",
        "icechunk-s3",
        "zarr",
        "frazil/icechunk",
        "frazil-s3/icechunk-s3",
        "frazil/zarr",
    ]
    table = []
    for row in rows:
        v = row["values"]
        table.append(
            [row["workload"], row["variant"], row["metric"], row["better"]]
            + [
                fmt(v.get(s)) if s in v else ("error" if s in row["errors"] else "")
                for s in ("frazil", "frazil-s3", "icechunk", "icechunk-s3", "zarr")
            ]
            + [
                ratio(v.get("frazil"), v.get("icechunk")),
                ratio(v.get("frazil-s3"), v.get("icechunk-s3")),
                ratio(v.get("frazil"), v.get("zarr")),
            ]
        )
    widths = [max(len(str(r[i])) for r in [header, *table]) for i in range(len(header))]
    lines = [
        "| " + " | ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
        *(
            "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
            for r in table
        ),
    ]
    print("\n".join(lines))
    print(f"\n{len(rows)} rows in {elapsed:.0f}s; repetitions: {repeat}; failures: {failures}")

    versions = {}
    for module in ("frazil", "icechunk", "zarr", "numpy", "dask", "xarray"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001 -- a missing system is reported as absent
            versions[module] = None
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": versions,
        "quick": args.quick,
        "repeat": repeat,
        "seconds": elapsed,
        "rows": rows,
        "table": lines,
    }
    target = (
        pathlib.Path(args.json)
        if args.json
        else HERE / "results" / ("quick.json" if args.quick else "latest.json")
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2))
    print(f"results written to {target}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
