"""The process factory: candidate trading processes proposed by a model, for a human to review.

Plain Python (no Dagster). One day's run (:func:`~hean_pipelines.factory.generate.generate_for_day`):

1. **prompt** — the registry and the selector's scores *as of D* become a fixed system prompt plus a
   user message of canonical JSON (:mod:`hean_pipelines.factory.generate`);
2. **backend** — the OpenAI Chat Completions API with a strict JSON schema derived from the pydantic
   model (``seed=42``, ``temperature=0.3``), or, with no ``OPENAI_API_KEY``, a deterministic offline
   generator that varies the catalog's processes (:mod:`hean_pipelines.factory.backends`);
3. **validation and safety** — whatever the backend: strict JSON parse, the pydantic model (required
   fields, types, closed enums, lengths), the budget (steps, human tasks) and a deny-list matched on
   normalized text (:mod:`~hean_pipelines.factory.validation`, :mod:`~hean_pipelines.factory.safety`);
4. **store** — every candidate, accepted or not, with its reasons in ``factory.candidates``; the raw
   response is kept there and re-used when the day is re-run with the same prompt
   (:mod:`~hean_pipelines.factory.store`);
5. **register** — accepted candidates become ``proposed`` rows of ``registry.processes`` effective D+1,
   with capital 0 and a link prefix assigned by code. A human sets capital when approving.

The output is data for human review: nothing here executes a step, places an order or moves money,
and the model never sets capital or a link prefix.
"""
