"""Run ``bus-integration-database`` as ``python -m bus_shim``."""

import sys

from .cli import database_main

sys.exit(database_main())
