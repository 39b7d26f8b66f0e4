"""The command line: `python -m glaucoma_lib predict`, scoring photographs into a CSV."""
