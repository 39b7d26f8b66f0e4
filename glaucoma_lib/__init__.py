"""Glaucoma screening on G1020 fundus photographs with a CNN written from scratch in NumPy."""
