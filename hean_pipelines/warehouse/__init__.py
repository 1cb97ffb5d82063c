"""The DuckDB warehouse: connections under the one-writer lock, the raw tables, and imports."""
