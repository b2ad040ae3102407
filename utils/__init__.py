"""The helpers the chapters import: data, models, losses, training, metrics, plots."""
