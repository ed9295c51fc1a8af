"""One module per theoretical claim; each defines ``Config``, ``run(config, rng)`` and ``SPEC``.

The registry (:mod:`deepscope.registry`) lists them. Modules import heavy libraries inside
``run`` so that listing experiments stays fast.
"""
