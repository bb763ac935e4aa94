#!/usr/bin/python
"""Module busdk.database.apply."""

from __future__ import annotations

DOCUMENTATION = r"""
module: apply
short_description: Create the PostgreSQL roles, databases, schemas, grants and DSN files of a Bus deployment
version_added: 0.1.0
description:
  - Brings a PostgreSQL server to the desired state of a Bus deployment
    idempotently and reports every change it planned or made, with the reason
    and the SQL statement (passwords masked).
  - Creates missing login roles, databases owned by the service role (the first
    of O(roles)), the listed schemas in every listed database, explicit CONNECT
    grants and schema USAGE and CREATE grants, and one DSN file per database and
    role in O(dsn_output_dir).
  - PUBLIC's CONNECT and TEMPORARY privileges are revoked on every listed
    database, so only the listed roles (and superusers) can connect. Apart from
    that, nothing is dropped or revoked.
  - The admin role itself, superuser roles and the databases V(postgres),
    V(template0) and V(template1) are never managed.
  - A new role gets a random password. An existing role keeps its password while
    its DSN file still authenticates (checked against the stored SCRAM verifier
    when the admin may read it, otherwise by logging in); otherwise the password
    is rotated and all of that role's DSN files are rewritten.
  - Nothing changes unless O(dry_run=false) and O(confirm=true). With the
    defaults the module only reports what it would do, and reports
    C(changed=false) because nothing changed. In check mode it reports
    C(changed=true) when it would change something, as check mode expects.
  - Roles and database ownership changes run in one transaction, each CREATE
    DATABASE runs on its own (PostgreSQL does not allow it in a transaction), and
    the remaining changes of each database run in one transaction per database.
  - With an admin that is not a superuser but has CREATEDB and CREATEROLE, the
    module grants the admin membership (with SET and INHERIT) in the service role
    first, which PostgreSQL 16 and later need before the admin may make that role
    a database owner.
author:
  - Bus platform team (!UNKNOWN)
extends_documentation_fragment:
  - busdk.database.common
  - busdk.database.common.desired_state
options:
  dry_run:
    description:
      - Report the planned changes without making them.
      - Must be a boolean. Check mode always makes a dry run.
    type: raw
    default: true
  confirm:
    description:
      - Must be V(true), together with O(dry_run=false), for a real change.
      - O(dry_run=false) without O(confirm=true) fails with
        RV(error_class=bad_request) and changes nothing.
    type: raw
    default: false
attributes:
  check_mode:
    description: Can run in check mode and report the changes it would make.
    support: full
  diff_mode:
    description: Returns the state of every object it would change, before and after.
    support: full
  idempotent:
    description: A second run with the same options reports no change.
    support: full
"""

EXAMPLES = r"""
- name: Show what a bootstrap would change
  busdk.database.apply:
    deployment_id: example-dev
    admin_dsn_file: /etc/bus/postgres-admin-dsn
    databases: [bus_auth, bus_events]
    roles: [bus_service]
    schemas: [public]
    dsn_output_dir: /etc/bus/dsn

- name: Create the roles, databases, schemas and DSN files
  busdk.database.apply:
    deployment_id: example-dev
    admin_dsn_file: /etc/bus/postgres-admin-dsn
    databases: [bus_auth, bus_events, bus_usage, bus_billing]
    roles: [bus_service]
    schemas: [public]
    dsn_output_dir: /etc/bus/dsn
    dry_run: false
    confirm: true
  register: bootstrap

- name: List the applied actions
  ansible.builtin.debug:
    var: bootstrap.actions
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
  description: Whether the changes were only planned.
  returned: success
  type: bool
  sample: false
actions:
  description:
    - Steps taken, then one C(<verb>-<object>:<target>) entry per change.
  returned: always
  type: list
  elements: str
  sample: [discover-provider, compute-database-plan, create-role:bus_service,
           create-database:bus_auth, write-dsn-file:bus_auth.dsn, apply-database-plan]
changes:
  description: Every planned or applied change, in execution order.
  returned: success
  type: list
  elements: dict
  sample:
    - action: create-database
      object_type: database
      name: bus_auth
      before: null
      after: {owner: bus_service}
      reason: database does not exist
      sql: CREATE DATABASE "bus_auth" OWNER "bus_service"
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
  sample: ["3 change(s) applied"]
error_class:
  description:
    - Failure class, one of C(bad_request), C(unauthorized), C(forbidden),
      C(conflict), C(unavailable), C(timeout), C(provider_error).
  returned: failure
  type: str
  sample: unauthorized
duration_ms:
  description: Time the request took, in milliseconds.
  returned: always
  type: float
  sample: 184.2
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
    run_module(module, "apply", PLAN_FIELDS)


if __name__ == "__main__":
    main()
