"""A Bybit-v5-compatible exchange on loopback, over a simulated account (pure function of seed and day)."""
