"""Database operations with keyword-only arguments; FastAPI-free, so workers may use them."""
