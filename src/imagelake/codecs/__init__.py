"""How bytes on the wire become domain values (and back)."""
