"""Text from a checkpoint: KV-cached generation and streamed samples."""
