"""Run ``bus-events-local`` as ``python -m bus_shim.events_local``."""

import sys

from .cli import main

sys.exit(main())
