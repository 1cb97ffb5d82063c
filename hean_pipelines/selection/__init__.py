"""Selection statistics: deciding which trading processes deserve capital without being fooled by luck.

Pure Python (stdlib only, no Dagster); see :mod:`hean_pipelines.selection.stats`.
"""
