"""A corpus file to token files (prepare) and batches back out of them."""
