"""The PostgreSQL provider: plan, apply, status and verify over psycopg 3."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .changes import execute_changes
from .credentials import read_admin_dsn
from .errors import Forbidden
from .models import ListenerPolicy, PlanRequest, Settings, StatusRequest, VerifyRequest
from .pg_connect import classify_query_error, parse_dsn
from .pg_execute import PostgresBackend
from .pg_inspect import ClusterState, read_cluster, read_schemas, read_server
from .pg_plan import PlanContext, build_plan, dsn_file_name
from .pg_pool import ConnectionCache, open_connection
from .pg_verify import check_connectivity, check_listener_policy
from .redaction import Redactor

LOCK_NAMESPACE = "busdk.database:"


class PostgresProvider:
    """Provider ``postgres``; every method opens and closes its own connections."""

    name = "postgres"

    @staticmethod
    def new_connection_cache() -> ConnectionCache:
        """Return an empty cache for reusing read-only connections."""
        return ConnectionCache()

    @contextmanager
    def _admin(
        self,
        request: Any,
        settings: Settings,
        redactor: Redactor,
        cache: ConnectionCache | None = None,
    ) -> Iterator[tuple[Any, dict[str, Any]]]:
        admin = read_admin_dsn(request.credentials, settings, redactor)
        params = parse_dsn(admin.dsn, f"admin DSN file {admin.path}", redactor)
        with open_connection(
            params,
            dbname=None,
            connect_timeout=settings.connect_timeout,
            statement_timeout=settings.statement_timeout,
            cache=cache,
        ) as connection:
            yield connection, params

    def _inspect(
        self,
        connection: Any,
        params: dict[str, Any],
        settings: Settings,
        request: PlanRequest | StatusRequest,
        cache: ConnectionCache | None = None,
    ) -> ClusterState:
        server = read_server(connection)
        state = read_cluster(
            connection, server, list(request.roles), list(request.databases)
        )
        if not request.schemas:
            return state
        for database in state.databases.values():
            if not database.allow_connections:
                continue
            with open_connection(
                params,
                dbname=database.name,
                connect_timeout=settings.connect_timeout,
                statement_timeout=settings.statement_timeout,
                cache=cache,
            ) as per_database:
                database.schemas = read_schemas(per_database, list(request.schemas))
        return state

    @staticmethod
    def _check_admin_privileges(state: ClusterState, changes: list[Any]) -> None:
        server = state.server
        if server.superuser:
            return
        needs = {
            "create-role": ("createrole", "CREATEROLE"),
            "create-database": ("createdb", "CREATEDB"),
        }
        for change in changes:
            attribute, keyword = needs.get(change.action, (None, None))
            if attribute and not getattr(server, attribute):
                raise Forbidden(
                    f"Failed to plan {change.label}: the admin role "
                    f"{server.admin_role} lacks {keyword}"
                )

    @staticmethod
    def _lock(connection: Any, deployment_id: str) -> None:
        try:
            connection.execute(
                "SELECT pg_advisory_lock(hashtextextended(%s, 0))",
                [LOCK_NAMESPACE + deployment_id],
            )
        except Exception as error:
            raise classify_query_error(
                error, f"take the apply lock of deployment {deployment_id}"
            ) from None

    def plan(
        self,
        request: PlanRequest,
        settings: Settings,
        redactor: Redactor,
        *,
        execute: bool,
        connections: ConnectionCache | None = None,
    ) -> dict[str, Any]:
        """Compute the changes for ``request`` and carry them out when ``execute``.

        An apply holds a session advisory lock per deployment from before it
        reads the state until it has finished, so concurrent applies of one
        deployment run one after the other. Only a dry run reuses connections
        from ``connections``.
        """
        cache = None if execute else connections
        with self._admin(request, settings, redactor, cache) as (connection, params):
            if execute:
                self._lock(connection, request.deployment_id)
            state = self._inspect(connection, params, settings, request, cache)
            context = PlanContext(
                request=request,
                settings=settings,
                state=state,
                admin_params=params,
                connection=connection,
                redactor=redactor,
            )
            result = build_plan(context)
            self._check_admin_privileges(state, result["changes"])
            result["executed"] = 0
            if execute and result["changes"]:
                backend = PostgresBackend(
                    connection,
                    params,
                    (settings.connect_timeout, settings.statement_timeout),
                )
                result["executed"] = execute_changes(result["changes"], backend)
            return result

    def status(
        self,
        request: StatusRequest,
        settings: Settings,
        redactor: Redactor,
        connections: ConnectionCache | None = None,
    ) -> dict[str, Any]:
        """Return server, database, role, schema and DSN file status, plus drift."""
        with self._admin(request, settings, redactor, connections) as (
            connection,
            params,
        ):
            if not request.has_objects():
                return self._overview(connection)
            state = self._inspect(connection, params, settings, request, connections)
            drift: list[str] = []
            diagnostics: list[str] = []
            if request.databases or request.roles:
                desired = PlanRequest(
                    deployment_id=request.deployment_id,
                    provider=request.provider,
                    databases=list(request.databases),
                    roles=list(request.roles),
                    schemas=list(request.schemas),
                )
                context = PlanContext(
                    desired, settings, state, params, connection, redactor
                )
                planned = build_plan(context, raise_conflicts=False)
                drift = [
                    f"{change.label}: {change.reason}" for change in planned["changes"]
                ]
                drift.extend(f"conflict: {text}" for text in planned["conflicts"])
                diagnostics = planned["diagnostics"]
            return {
                "server": self._server_summary(state),
                "roles": self._role_summary(request, state),
                "databases": self._database_summary(request, state),
                "dsn_files": self._dsn_summary(request, settings),
                "drift": drift,
                "in_sync": not drift,
                "diagnostics": diagnostics,
            }

    @staticmethod
    def _server_summary(state: ClusterState) -> dict[str, Any]:
        server = state.server
        return {
            "version": server.version,
            "version_num": server.version_num,
            "admin_role": server.admin_role,
            "superuser": server.superuser,
            "createdb": server.createdb,
            "createrole": server.createrole,
        }

    def _overview(self, connection: Any) -> dict[str, Any]:
        server = read_server(connection)
        try:
            databases = connection.execute(
                "SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
                "WHERE NOT datistemplate ORDER BY datname"
            ).fetchall()
            roles = connection.execute(
                "SELECT rolname FROM pg_roles WHERE rolcanlogin "
                "AND rolname !~ '^pg_' ORDER BY rolname"
            ).fetchall()
        except Exception as error:
            raise classify_query_error(error, "list databases and roles") from None
        return {
            "server": self._server_summary(ClusterState(server=server)),
            "databases": [
                {"name": name, "exists": True, "owner": owner}
                for name, owner in databases
            ],
            "roles": [
                {"name": name, "exists": True, "login": True} for (name,) in roles
            ],
            "dsn_files": [],
            "drift": [],
            "in_sync": True,
            "diagnostics": [],
        }

    @staticmethod
    def _role_summary(
        request: StatusRequest, state: ClusterState
    ) -> list[dict[str, Any]]:
        summary = []
        for name in request.roles:
            role = state.roles.get(name)
            summary.append(
                {
                    "name": name,
                    "exists": role is not None,
                    "login": bool(role and role.login),
                }
            )
        return summary

    @staticmethod
    def _database_summary(
        request: StatusRequest, state: ClusterState
    ) -> list[dict[str, Any]]:
        summary = []
        for name in request.databases:
            database = state.databases.get(name)
            if database is None:
                summary.append({"name": name, "exists": False})
                continue
            schemas = []
            for schema_name in request.schemas:
                schema = (database.schemas or {}).get(schema_name)
                if schema is None:
                    schemas.append({"name": schema_name, "exists": False})
                    continue
                schemas.append(
                    {
                        "name": schema_name,
                        "exists": True,
                        "owner": schema.owner,
                        "usage": sorted({g for g, p in schema.acl if p == "USAGE"}),
                        "create": sorted({g for g, p in schema.acl if p == "CREATE"}),
                    }
                )
            summary.append(
                {
                    "name": name,
                    "exists": True,
                    "owner": database.owner,
                    "connect": sorted({g for g, p in database.acl if p == "CONNECT"}),
                    "schemas": schemas,
                }
            )
        return summary

    @staticmethod
    def _dsn_summary(
        request: StatusRequest, settings: Settings
    ) -> list[dict[str, Any]]:
        directory = settings.dsn_output_dir
        if not directory or not request.roles:
            return []
        summary = []
        for database in request.databases:
            for role in request.roles:
                name = dsn_file_name(database, role, request.roles[0])
                try:
                    mode = stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode)
                except FileNotFoundError:
                    summary.append({"name": name, "exists": False})
                    continue
                summary.append({"name": name, "exists": True, "mode": f"{mode:04o}"})
        return summary

    def verify(
        self, request: VerifyRequest, settings: Settings, redactor: Redactor
    ) -> list[dict[str, Any]]:
        """Run the requested checks in the order given."""
        started = time.monotonic()
        with self._admin(request, settings, redactor) as (connection, _params):
            results = []
            for check in request.checks:
                if check == "connectivity":
                    results.append(
                        check_connectivity(connection, started, settings, redactor)
                    )
                else:
                    policy = request.listener_policy or ListenerPolicy()
                    try:
                        results.append(check_listener_policy(connection, policy))
                    except Exception as error:
                        raise classify_query_error(
                            error, "read the listener settings"
                        ) from None
            return results
