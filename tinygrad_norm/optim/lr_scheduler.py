"""Learning-rate schedulers with torch.optim.lr_scheduler's rules."""
