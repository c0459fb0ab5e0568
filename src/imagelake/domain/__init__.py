"""Pure types and rules. Imports nothing else of imagelake."""
