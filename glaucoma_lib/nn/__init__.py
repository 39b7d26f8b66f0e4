"""The reusable NumPy CNN engine: layers, the network, optimisers, the Trainer, gradient checks
and the speed benchmark. Nothing here knows about fundus photographs."""
