"""The HTTP layer: routes, dependencies, schemas and the one error shape."""
