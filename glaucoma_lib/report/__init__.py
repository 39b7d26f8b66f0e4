"""The report wing: building the paper from the notebooks (order, parameters, captions and
figure numbering, figures, PDF) and putting a finished build in place."""
