"""Helpers the book's chapters import: data, models, losses, training, metrics, plots."""
