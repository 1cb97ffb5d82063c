"""hean-pipelines: the truth layer of a Bybit trading operation."""

__version__ = "0.1.0"
