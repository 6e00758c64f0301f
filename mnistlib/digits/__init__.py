"""Your own digits: images read (``images``), prepared as MNIST prepared its digits (``preprocess``),
classified by a trained model (``classify``); photo-like digits to try it on (``photos``); and a pad to
draw a digit on in Jupyter (``drawing``)."""
