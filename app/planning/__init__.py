"""Planning: what a request would do, checked against the engine, before the store writes it."""
