"""Pure accounting kernel of the truth layer: exact decimal rounding and Bybit's average-entry fold.

Plain Python over stdlib ``decimal`` (no Dagster, no DuckDB): ``rounding`` holds the quanta and the
exact half-up rounding and pro-rata split; ``average_cost`` folds one position group (account + symbol)
across processes. See DESIGN.md §5 and the docstrings of both modules for the conventions.
"""
