"""Backends, one package per family; each package's registries map URL schemes to factories."""
