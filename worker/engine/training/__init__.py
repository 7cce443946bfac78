"""The training loop and what it is made of: state, optimizers, schedule, early stop, DDP."""
