"""The service side of nanoGPT Studio: HTTP, SQL and job orchestration (never torch)."""
