"""The ledger: raw Bybit rows turned into exact, attributed money (no Dagster here)."""
