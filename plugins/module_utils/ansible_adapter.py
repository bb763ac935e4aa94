"""Ansible side of the modules: argument specs, settings and result mapping."""

from __future__ import annotations

import json
from typing import Any

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from .errors import BadRequest
from .models import PYDANTIC_IMPORT_ERROR, Settings, build_settings
from .pg_connect import PSYCOPG_IMPORT_ERROR
from .service import handle

COMMON_SPEC: dict[str, Any] = {
    "deployment_id": {"type": "str", "required": True},
    "provider": {"type": "str", "default": "postgres"},
    "admin_dsn_file": {
        "type": "path",
        "fallback": (env_fallback, ["BUS_POSTGRES_ADMIN_DSN_FILE"]),
    },
    "admin_dsn_secret": {"type": "str", "no_log": False},
    "secrets_dir": {"type": "path", "default": "/run/secrets"},
    "dsn_output_dir": {
        "type": "path",
        "fallback": (env_fallback, ["BUS_DATABASE_DSN_OUTPUT_DIR"]),
    },
    "connect_timeout": {"type": "int", "default": 5},
    "statement_timeout": {"type": "int", "default": 120},
}
OBJECTS_SPEC: dict[str, Any] = {
    "databases": {"type": "list", "elements": "str", "default": []},
    "roles": {"type": "list", "elements": "str", "default": []},
    "schemas": {"type": "list", "elements": "str", "default": []},
}
DESIRED_STATE_SPEC: dict[str, Any] = {
    **OBJECTS_SPEC,
    "listener_policy": {"type": "dict"},
    "dsn_host": {"type": "str"},
    "dsn_port": {"type": "int"},
}
# Raw, so that the core rejects strings such as "false" instead of Ansible
# converting them.
PLAN_FLAGS_SPEC: dict[str, Any] = {
    "dry_run": {"type": "raw", "default": True},
    "confirm": {"type": "raw", "default": False},
}
PLAN_FIELDS = ("databases", "roles", "schemas", "listener_policy", "dry_run", "confirm")
MUTUALLY_EXCLUSIVE = [("admin_dsn_file", "admin_dsn_secret")]


def argument_spec(*extra: dict[str, Any]) -> dict[str, Any]:
    """Return the common options merged with ``extra`` option groups."""
    spec = dict(COMMON_SPEC)
    for group in extra:
        spec.update(group)
    return spec


def _settings(params: dict[str, Any]) -> Settings:
    return build_settings(
        secrets_dir=params["secrets_dir"],
        dsn_output_dir=params.get("dsn_output_dir"),
        dsn_host=params.get("dsn_host"),
        dsn_port=params.get("dsn_port"),
        connect_timeout=params["connect_timeout"],
        statement_timeout=params["statement_timeout"],
    )


def _payload(params: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "deployment_id": params["deployment_id"],
        "provider": params["provider"],
    }
    if params.get("admin_dsn_file"):
        payload["credentials"] = {"admin_dsn_file": params["admin_dsn_file"]}
    elif params.get("admin_dsn_secret"):
        payload["credentials"] = {"admin_dsn_secret": params["admin_dsn_secret"]}
    for field in fields:
        value = params.get(field)
        if isinstance(value, dict):
            # Ansible sets unset suboptions to None; the core applies defaults.
            value = {key: item for key, item in value.items() if item is not None}
        if value is not None and value != []:
            payload[field] = value
    return payload


def _describe(state: Any) -> str:
    if state is None:
        return "absent"
    return json.dumps(state, sort_keys=True)


def render_diff(changes: list[dict[str, Any]]) -> dict[str, str]:
    """Return an Ansible diff listing each changed object before and after."""
    before, after = [], []
    for change in changes:
        subject = f"{change['object_type']} {change['name']}"
        before.append(f"{subject}: {_describe(change['before'])}\n")
        after.append(f"{subject}: {_describe(change['after'])}\n")
    return {
        "before_header": "current state",
        "after_header": "planned state",
        "before": "".join(before),
        "after": "".join(after),
    }


def run_module(module: AnsibleModule, operation: str, fields: tuple[str, ...]) -> None:
    """Run ``operation`` with the module's parameters and exit the module.

    Check mode makes an apply a dry run. Failures call ``fail_json`` with the
    response's ``error_class`` and diagnostics; secrets are already masked.
    """
    if PYDANTIC_IMPORT_ERROR is not None:
        module.fail_json(
            msg=missing_required_lib("pydantic>=2.6"),
            exception=PYDANTIC_IMPORT_ERROR,
            error_class="provider_error",
        )
    if PSYCOPG_IMPORT_ERROR is not None:
        module.fail_json(
            msg=missing_required_lib("psycopg>=3.1"),
            exception=PSYCOPG_IMPORT_ERROR,
            error_class="provider_error",
        )

    params = module.params
    try:
        settings = _settings(params)
    except BadRequest as error:
        module.fail_json(
            msg=error.message,
            error_class=error.error_class,
            diagnostics=error.all_diagnostics(),
            ok=False,
            changed=False,
        )
    response = handle(
        operation,
        _payload(params, fields),
        settings,
        force_dry_run=module.check_mode,
    )
    changes = response.get("changes") or []
    if not response["ok"]:
        # A failed apply may have committed part of its plan; handle() then
        # sets changed and lists those changes.
        response["changed"] = bool(response.get("changed"))
        diagnostics = response.get("diagnostics") or ["request failed"]
        module.fail_json(msg=diagnostics[0], **response)

    if operation == "apply":
        executed = not response.get("dry_run", True)
        response["changed"] = bool(changes) and (executed or module.check_mode)
    else:
        response["changed"] = False

    result: dict[str, Any] = dict(response)
    if module._diff and operation in ("plan", "apply") and changes:
        result["diff"] = render_diff(changes)
    module.exit_json(**result)
