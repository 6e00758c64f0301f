"""Your own digits: images read (``images``), prepared as MNIST prepared its digits (``preprocess``),
classified by a trained model (``classify``); and photo-like digits to try it on (``photos``)."""
