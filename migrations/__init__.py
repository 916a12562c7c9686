"""The catalog's schema history (Alembic); shipped inside the wheel as ``memindex.migrations``."""
