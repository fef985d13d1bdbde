"""Runs one workload for one system in this (fresh) process; prints a JSON line."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import traceback
import warnings


def main() -> int:
    spec = json.loads(sys.argv[1])
    warnings.simplefilter("ignore")
    logging.getLogger("distributed").setLevel(logging.ERROR)
    from benchmarks.adapters import adapter_for
    from benchmarks.workloads import WORKLOADS, Invalid

    workload = WORKLOADS[spec["workload"]]
    with tempfile.TemporaryDirectory(prefix="frazil-bench-", dir=spec.get("tmp")) as tmp:
        adapter = adapter_for(spec["system"], f"{tmp}/repo", spec.get("options", {}))
        try:
            metrics = workload.run(adapter, spec["params"], spec["quick"])
            result = {"ok": True, "metrics": metrics}
        except Invalid as exc:
            result = {"ok": False, "error": f"validation failed: {exc}"}
        except Exception as exc:  # noqa: BLE001 -- reported in the table
            result = {
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exc()[-2000:],
            }
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
