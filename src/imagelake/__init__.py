"""imagelake: an image service with a built-in request-analytics pipeline."""

__version__ = "0.1.0"
