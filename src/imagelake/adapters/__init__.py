"""One module per backend; bootstrap.py picks them by URL scheme."""
