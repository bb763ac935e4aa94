"""Options shared by every busdk.database module."""

from __future__ import annotations


class ModuleDocFragment:
    """Connection, credential and output options of the busdk.database modules."""

    DOCUMENTATION = r"""
options:
  deployment_id:
    description:
      - Identifier of the Bus deployment, for example V(example-dev).
      - Concurrent real applies of the same deployment run one after the other.
    type: str
    required: true
  provider:
    description:
      - Database provider that serves the request.
    type: str
    default: postgres
  admin_dsn_file:
    description:
      - Path of a file holding one admin connection string, for example
        V(postgresql://admin:password@127.0.0.1:5432/postgres?sslmode=require).
      - The file must be a regular file with no group or other permission bits
        (mode V(0600) or stricter); anything looser fails with
        RV(error_class=unauthorized).
      - The file is read on the managed host and its content never appears in
        results, diffs or error messages.
      - If not set, the environment variable E(BUS_POSTGRES_ADMIN_DSN_FILE) is used.
      - Mutually exclusive with O(admin_dsn_secret).
    type: path
  admin_dsn_secret:
    description:
      - Reference of the form V(secret://deployment/<name>), read from the file
        O(secrets_dir)/<name> with the same mode rule as O(admin_dsn_file).
      - Mutually exclusive with O(admin_dsn_file).
    type: str
  secrets_dir:
    description:
      - Directory that O(admin_dsn_secret) references resolve to.
    type: path
    default: /run/secrets
  dsn_output_dir:
    description:
      - Directory of the service DSN files, created with mode V(0700) if missing.
      - The service role's file for database V(db) is V(db.dsn); another listed
        role V(r) gets V(db.r.dsn). Files have mode V(0600).
      - Without it, service passwords are not managed and no DSN file is written.
      - If not set, the environment variable E(BUS_DATABASE_DSN_OUTPUT_DIR) is used.
    type: path
  connect_timeout:
    description:
      - Seconds to wait for each connection to the server, from 1 to 300.
    type: int
    default: 5
  statement_timeout:
    description:
      - Seconds any one statement (including waiting for the deployment lock)
        may run before the request fails with RV(error_class=timeout), from 1
        to 86400.
    type: int
    default: 120
requirements:
  - pydantic >= 2.6 and psycopg >= 3.1 in the Python that runs the module on the
    managed host.
notes:
  - Booleans must be real YAML booleans. Quoted strings such as V("false") are
    rejected with RV(error_class=bad_request) instead of being converted.
seealso:
  - name: PostgreSQL privileges
    description: How GRANT and default privileges work in PostgreSQL.
    link: https://www.postgresql.org/docs/current/ddl-priv.html
"""

    DESIRED_STATE = r"""
options:
  databases:
    description:
      - Databases that must exist, owned by the first role in O(roles).
      - Names keep their case and may contain hyphens or dots; they are always
        quoted. At most 63 bytes.
    type: list
    elements: str
    default: []
  roles:
    description:
      - Login roles that must exist. The first one is the service role, which
        owns the listed databases and the schemas this module creates.
      - Every listed role gets an explicit CONNECT grant on every listed
        database and USAGE and CREATE on every listed schema.
      - A new role gets a generated password, hashed to a SCRAM-SHA-256
        verifier before it is sent to the server.
    type: list
    elements: str
    default: []
  schemas:
    description:
      - Schemas that must exist in every listed database.
    type: list
    elements: str
    default: []
  listener_policy:
    description:
      - Listener policy of the deployment, accepted for parity with the event
        contract and checked by M(busdk.database.verify).
    type: dict
  dsn_host:
    description:
      - Host written into service DSN files, as a host name, an IP address or
        an absolute Unix socket directory. Defaults to the admin DSN's host.
    type: str
  dsn_port:
    description:
      - Port written into service DSN files, from 1 to 65535. Defaults to the
        admin DSN's port.
    type: int
"""
