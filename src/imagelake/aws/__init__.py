"""Lambda handlers over the same services as `imagelake serve`: no business logic here."""
