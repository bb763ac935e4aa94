"""Ansible callback that appends one JSON line per task result to a file.

The benchmark harness enables it with ``ANSIBLE_CALLBACKS_ENABLED=bench_results``
and names the output file in ``BENCH_RESULTS_FILE``. Each line contains the task
name, its status (ok, failed, skipped, unreachable), whether it changed, the
failure message, the number of loop items that changed, and the ``changes`` and
``actions`` values that busdk.database modules return.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_results
type: aggregate
short_description: Write task results as JSON lines for the benchmark harness
description:
  - Appends one JSON object per task result to the file named in BENCH_RESULTS_FILE.
requirements:
  - Enabled in callbacks_enabled.
"""


def _result_dict(result):
    # ansible-core 2.19 exposes the result as .result and keeps ._result for
    # older callers, so prefer the public name when it exists.
    payload = getattr(result, "result", None)
    if not isinstance(payload, dict):
        payload = result._result
    return payload


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("BENCH_RESULTS_FILE")

    def _write(self, result, status):
        if not self._path:
            return
        payload = _result_dict(result)
        items = (
            payload.get("results") if isinstance(payload.get("results"), list) else []
        )
        record = {
            "task": result._task.get_name(),
            "status": status,
            "changed": bool(payload.get("changed", False)),
            "msg": str(payload.get("msg", ""))[:2000] if status != "ok" else "",
            "items": len(items),
            "items_changed": sum(1 for item in items if item.get("changed")),
            "items_failed": sum(1 for item in items if item.get("failed")),
            "changes": payload.get("changes"),
            "actions": payload.get("actions"),
        }
        if status != "ok" and items:
            failed = [item for item in items if item.get("failed")]
            if failed:
                record["msg"] = str(failed[0].get("msg", ""))[:2000]
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._write(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._write(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._write(result, "unreachable")
