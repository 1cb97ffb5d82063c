"""Attribution: what each process and the portfolio earned per day, from the ledger (no Dagster here)."""
