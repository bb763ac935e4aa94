#!/usr/bin/python
"""Module busdk.database.status."""

from __future__ import annotations

DOCUMENTATION = r"""
module: status
short_description: Report a Bus deployment's PostgreSQL objects and their drift
version_added: 0.1.0
description:
  - Reports the server version and the admin role's attributes.
  - With O(databases), O(roles) or O(schemas), reports for each listed object
    whether it exists, its owner and its privileges, the DSN files and their
    modes, and the drift, which is the list of changes
    M(busdk.database.apply) would make.
  - Without them, lists the server's non-template databases and login roles.
  - Never changes anything.
author:
  - Bus platform team (!UNKNOWN)
extends_documentation_fragment:
  - busdk.database.common
options:
  databases:
    description:
      - Databases expected to exist.
    type: list
    elements: str
    default: []
  roles:
    description:
      - Roles expected to exist; the first one is expected to own the databases.
    type: list
    elements: str
    default: []
  schemas:
    description:
      - Schemas expected in every listed database.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    description: Runs the same way in check mode; it never changes anything.
    support: full
  diff_mode:
    description: Returns no diff because it never changes anything.
    support: none
  idempotent:
    description: Never changes anything.
    support: full
"""

EXAMPLES = r"""
- name: Report drift against the desired state
  busdk.database.status:
    deployment_id: example-dev
    admin_dsn_file: /etc/bus/postgres-admin-dsn
    databases: [bus_auth, bus_events]
    roles: [bus_service]
    schemas: [public]
    dsn_output_dir: /etc/bus/dsn
  register: current

- name: Show the drift
  ansible.builtin.debug:
    var: current.drift
"""

RETURN = r"""
ok:
  description: Whether the request succeeded.
  returned: always
  type: bool
  sample: true
server:
  description: Server version and the admin role's attributes.
  returned: success
  type: dict
  sample: {version: "18.6", version_num: 180006, admin_role: postgres,
           superuser: true, createdb: true, createrole: true}
databases:
  description: One entry per listed database (or per existing database when none is listed).
  returned: success
  type: list
  elements: dict
  sample:
    - name: bus_auth
      exists: true
      owner: bus_service
      connect: [bus_service]
      schemas:
        - {name: public, exists: true, owner: pg_database_owner,
           usage: [bus_service, pg_database_owner], create: [bus_service, pg_database_owner]}
roles:
  description: One entry per listed role (or per login role when none is listed).
  returned: success
  type: list
  elements: dict
  sample: [{name: bus_service, exists: true, login: true}]
dsn_files:
  description: Expected DSN files, whether they exist and their modes. Contents are never read into results.
  returned: success
  type: list
  elements: dict
  sample: [{name: bus_auth.dsn, exists: true, mode: "0600"}]
drift:
  description: The changes M(busdk.database.apply) would make, with reasons.
  returned: success
  type: list
  elements: str
  sample: ["create-database:bus_usage: database does not exist"]
in_sync:
  description: Whether there is no drift.
  returned: success
  type: bool
  sample: true
actions:
  description: Steps taken.
  returned: always
  type: list
  elements: str
  sample: [discover-provider, read-database-status]
diagnostics:
  description: Human-readable notes; on failure, what failed.
  returned: always
  type: list
  elements: str
  sample: []
error_class:
  description: Failure class, for example C(unauthorized) or C(unavailable).
  returned: failure
  type: str
  sample: unavailable
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.busdk.database.plugins.module_utils.ansible_adapter import (
    MUTUALLY_EXCLUSIVE,
    OBJECTS_SPEC,
    argument_spec,
    run_module,
)

FIELDS = ("databases", "roles", "schemas")


def main() -> None:
    """Run the module."""
    module = AnsibleModule(
        argument_spec=argument_spec(OBJECTS_SPEC),
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        supports_check_mode=True,
    )
    run_module(module, "status", FIELDS)


if __name__ == "__main__":
    main()
