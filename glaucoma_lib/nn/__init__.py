"""The reusable NumPy CNN engine: layers, the network, optimisers, the Trainer and its
checkpoints, pickle-free weight files, gradient checks and the speed benchmark. Nothing here
knows about fundus photographs, and nothing here imports the rest of glaucoma_lib
(tests/test_engine_alone.py)."""
