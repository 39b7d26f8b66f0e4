"""The data wing: the data sets, their labels and photographs, the original 800/220 split and
the folds, the image cache, augmentation and the embedded synthetic set."""
