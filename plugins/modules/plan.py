#!/usr/bin/python
"""Module busdk.database.plan."""

from __future__ import annotations

DOCUMENTATION = r"""
module: plan
short_description: Report the changes a Bus deployment's PostgreSQL needs, without making them
version_added: 0.1.0
description:
  - Reads the server's current state and returns the ordered list of changes
    that M(busdk.database.apply) would make for the same options, each with the
    reason and the SQL statement (passwords masked).
  - Never changes anything, whatever O(dry_run) and O(confirm) say. It runs
    the same planning code as M(busdk.database.apply) with execution off.
  - Checking whether an existing role's DSN file still authenticates may log in
    as that role when the admin cannot read password verifiers.
author:
  - Bus platform team (!UNKNOWN)
extends_documentation_fragment:
  - busdk.database.common
  - busdk.database.common.desired_state
options:
  dry_run:
    description:
      - Accepted for parity with the event contract; a plan is always a dry run.
    type: raw
    default: true
  confirm:
    description:
      - Accepted for parity with the event contract and ignored.
    type: raw
    default: false
attributes:
  check_mode:
    description: Runs the same way in check mode; it never changes anything.
    support: full
  diff_mode:
    description: Returns the state of every object that would change, before and after.
    support: full
  idempotent:
    description: Never changes anything.
    support: full
"""

EXAMPLES = r"""
- name: Plan the databases of a deployment
  busdk.database.plan:
    deployment_id: example-dev
    admin_dsn_file: /etc/bus/postgres-admin-dsn
    databases: [bus_auth, bus_events]
    roles: [bus_service]
    schemas: [public]
    dsn_output_dir: /etc/bus/dsn
  register: planned

- name: Fail when the server is not yet in the desired state
  ansible.builtin.assert:
    that: planned.changes | length == 0
    fail_msg: "{{ planned.actions }}"
"""

RETURN = r"""
ok:
  description: Whether the request succeeded.
  returned: always
  type: bool
  sample: true
deployment_id:
  description: The deployment the request was for.
  returned: always
  type: str
  sample: example-dev
provider:
  description: The provider that served the request.
  returned: always
  type: str
  sample: postgres
dry_run:
  description: Always true for a plan.
  returned: success
  type: bool
  sample: true
actions:
  description:
    - Steps taken, then one C(<verb>-<object>:<target>) entry per planned change.
  returned: always
  type: list
  elements: str
  sample: [discover-provider, compute-database-plan, create-role:bus_service,
           create-database:bus_auth, create-schema:bus_auth.public]
changes:
  description: Every planned change, in execution order.
  returned: success
  type: list
  elements: dict
  sample:
    - action: create-role
      object_type: role
      name: bus_service
      before: null
      after: {login: true}
      reason: role does not exist
      sql: CREATE ROLE "bus_service" LOGIN PASSWORD '********'
resources:
  description: Names of the managed databases, roles, schemas and DSN file paths.
  returned: success
  type: dict
  sample:
    databases: [bus_auth]
    roles: [bus_service]
    schemas: [bus_auth.public]
    dsn_files: [/etc/bus/dsn/bus_auth.dsn]
diagnostics:
  description: Human-readable notes; on failure, what failed.
  returned: always
  type: list
  elements: str
  sample: ["5 change(s) planned"]
error_class:
  description:
    - Failure class, one of C(bad_request), C(unauthorized), C(forbidden),
      C(conflict), C(unavailable), C(timeout), C(provider_error).
  returned: failure
  type: str
  sample: bad_request
duration_ms:
  description: Time the request took, in milliseconds.
  returned: always
  type: float
  sample: 35.7
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.busdk.database.plugins.module_utils.ansible_adapter import (
    DESIRED_STATE_SPEC,
    MUTUALLY_EXCLUSIVE,
    PLAN_FIELDS,
    PLAN_FLAGS_SPEC,
    argument_spec,
    run_module,
)


def main() -> None:
    """Run the module."""
    module = AnsibleModule(
        argument_spec=argument_spec(DESIRED_STATE_SPEC, PLAN_FLAGS_SPEC),
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        supports_check_mode=True,
    )
    run_module(module, "plan", PLAN_FIELDS)


if __name__ == "__main__":
    main()
