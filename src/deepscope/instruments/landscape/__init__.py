"""Loss-landscape instruments: directions, batched grid evaluation, curves, sharpness, figures.

Pure measurement code (no file I/O). The public path is :mod:`deepscope.landscape`; storage and
export live in :mod:`deepscope.landscape_io`.
"""
