"""Glaucoma screening on fundus photographs with a CNN written from scratch in NumPy.

The package is in wings, one concern each, lower wings never importing higher ones:
`nn` (the engine, NumPy only), `data`, `models`, `cli`, `study`, `report`, with `paths`,
`files`, `metrics` and `tasks` beneath them all. Nothing is imported here, so that
`import glaucoma_lib.nn` loads the engine alone.
"""
