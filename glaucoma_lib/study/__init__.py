"""The study wing: the original's reproduction, the experiments and controls, the sweep, the
run records every number is read from, and the sentences the notebooks print from them."""
