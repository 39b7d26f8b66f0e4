"""Glaucoma screening on G1020 fundus photographs with a CNN written from scratch in NumPy."""

from glaucoma_lib.data import load_glaucoma

__all__ = ["load_glaucoma"]
