"""Infrastructure shared by the API and the workers; nothing here imports FastAPI or torch."""
