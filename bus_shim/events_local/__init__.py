"""Local development stand-in for the Bus Events API.

``bus-events-local`` serves the Bus Events HTTP API from memory so that the
shim, the demo and the tests can run without the production server. It is not
the production Bus Events server: there is no persistence, no clustering and no
rate limiting, and it adds two test affordances under ``/api/v1/_local/``.
"""

from .app import DEFAULT_MAX_BODY_BYTES, create_app
from .auth import DEFAULT_AUDIENCE, mint_token
from .process import LocalEventsServer, ServerStartError, run_local_events_server

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_MAX_BODY_BYTES",
    "LocalEventsServer",
    "ServerStartError",
    "create_app",
    "mint_token",
    "run_local_events_server",
]
