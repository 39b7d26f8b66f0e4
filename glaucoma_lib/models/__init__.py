"""The models wing: finding and cropping the optic disc, texture features, the NumPy linear
scorer, the model kinds (texture, disc CNN, whole-image CNN), their weight files and their
explanations."""
