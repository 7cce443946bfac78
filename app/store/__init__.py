"""The store: settings, the database, the ORM, every state transition and the broker client.
Both sides (HTTP and jobs) build on it; it never imports FastAPI or torch."""
