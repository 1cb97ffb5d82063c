"""Bybit v5: request signing, the read-only REST client and the loopback sandbox exchange."""
