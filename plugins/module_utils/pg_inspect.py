"""Reading the current cluster state with a fixed number of catalog queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .pg_connect import classify_query_error

PRIVILEGE_ACL = """
    (SELECT coalesce(json_agg(json_build_array(
                CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                     ELSE pg_get_userbyid(a.grantee) END,
                a.privilege_type)), '[]'::json)
       FROM aclexplode(coalesce({acl}, acldefault({kind}, {owner}))) AS a)
"""

SERVER_QUERY = """
SELECT current_user, r.rolsuper, r.rolcreatedb, r.rolcreaterole,
       current_setting('server_version_num')::int,
       current_setting('server_version'),
       current_database()
  FROM pg_roles AS r
 WHERE r.rolname = current_user
"""

ROLES_QUERY = """
SELECT r.rolname, r.rolcanlogin, r.rolsuper,
       pg_has_role(current_user, r.oid, 'USAGE'),
       pg_has_role(current_user, r.oid, '{set_privilege}')
  FROM pg_roles AS r
 WHERE r.rolname = ANY(%s)
"""

VERIFIERS_QUERY = "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)"

DATABASES_QUERY = (
    """
SELECT d.datname, pg_get_userbyid(d.datdba), d.datallowconn, """
    + PRIVILEGE_ACL.format(acl="d.datacl", kind="'d'", owner="d.datdba")
    + """
  FROM pg_database AS d
 WHERE d.datname = ANY(%s)
"""
)

SCHEMAS_QUERY = (
    """
SELECT n.nspname, pg_get_userbyid(n.nspowner), """
    + PRIVILEGE_ACL.format(acl="n.nspacl", kind="'n'", owner="n.nspowner")
    + """
  FROM pg_namespace AS n
 WHERE n.nspname = ANY(%s)
"""
)

# Marker for a password verifier the admin role may not read.
UNREADABLE = "<unreadable>"


@dataclass
class ServerState:
    """The server and the admin role's own attributes."""

    admin_role: str
    superuser: bool
    createdb: bool
    createrole: bool
    version_num: int
    version: str
    maintenance_database: str


@dataclass
class RoleState:
    """An existing role as the plan needs it."""

    name: str
    login: bool
    superuser: bool
    admin_inherits: bool
    admin_can_set: bool
    verifier: str | None = UNREADABLE


@dataclass
class SchemaState:
    """An existing schema, its owner and its exploded ACL."""

    name: str
    owner: str
    acl: list[tuple[str, str]]

    def grants(self, role: str, privilege: str) -> bool:
        """Return True when the ACL grants ``privilege`` to ``role`` directly."""
        return (role, privilege) in self.acl


@dataclass
class DatabaseState:
    """An existing database, its owner, ACL and (when read) listed schemas."""

    name: str
    owner: str
    allow_connections: bool
    acl: list[tuple[str, str]]
    schemas: dict[str, SchemaState] | None = None

    def grants(self, role: str, privilege: str) -> bool:
        """Return True when the ACL grants ``privilege`` to ``role`` directly."""
        return (role, privilege) in self.acl


@dataclass
class ClusterState:
    """Everything inspected for one request."""

    server: ServerState
    roles: dict[str, RoleState] = field(default_factory=dict)
    databases: dict[str, DatabaseState] = field(default_factory=dict)


def _acl(value: Any) -> list[tuple[str, str]]:
    return [(str(grantee), str(privilege)) for grantee, privilege in value or []]


def read_server(connection: Any) -> ServerState:
    """Return the server version and the admin role's attributes."""
    try:
        row = connection.execute(SERVER_QUERY).fetchone()
    except Exception as error:
        raise classify_query_error(error, "read the server state") from None
    return ServerState(*row)


def read_cluster(
    connection: Any, server: ServerState, roles: list[str], databases: list[str]
) -> ClusterState:
    """Return the state of the listed roles and databases (three queries at most)."""
    state = ClusterState(server=server)
    set_privilege = "SET" if server.version_num >= 160000 else "MEMBER"
    try:
        if roles:
            query = ROLES_QUERY.format(set_privilege=set_privilege)
            for row in connection.execute(query, [roles]):
                state.roles[row[0]] = RoleState(*row)
            if server.superuser and state.roles:
                for name, verifier in connection.execute(VERIFIERS_QUERY, [roles]):
                    state.roles[name].verifier = verifier
        if databases:
            for name, owner, allow, acl in connection.execute(
                DATABASES_QUERY, [databases]
            ):
                state.databases[name] = DatabaseState(name, owner, allow, _acl(acl))
    except Exception as error:
        raise classify_query_error(error, "read roles and databases") from None
    return state


def read_schemas(connection: Any, schemas: list[str]) -> dict[str, SchemaState]:
    """Return the listed schemas that exist in the connected database (one query)."""
    try:
        rows = connection.execute(SCHEMAS_QUERY, [schemas]).fetchall()
    except Exception as error:
        raise classify_query_error(error, "read schemas") from None
    return {name: SchemaState(name, owner, _acl(acl)) for name, owner, acl in rows}
