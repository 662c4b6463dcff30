"""PostgreSQL: the connection pool, versioned migrations and the catalog's repositories."""
