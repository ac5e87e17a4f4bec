"""Datasets and loaders in the shape of torch.utils.data."""
