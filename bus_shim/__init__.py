"""Event shim that serves bus.database.* requests from the Bus Events API."""
