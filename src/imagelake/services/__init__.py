"""Use cases. They talk to ports only."""
