"""A migration package for tests: the real first migration, then one that alters a populated table."""
