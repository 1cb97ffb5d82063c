"""Orchestration decisions as plain Python: which days are owed, which days went stale, what a failure says."""
