"""The model architectures a run can ask for (no torch, so configs can name them)."""

ARCH_CHOICES = ("gpt2", "modern")  # nanoGPT's GPT (gpt.py), or modern.py's recipe
