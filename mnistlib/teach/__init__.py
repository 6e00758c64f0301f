"""What the notebooks use: a notebook's session (``notebook``), its charts (``plots``), training curves
redrawn in place (``live``), a look inside a network (``inside``), numbers about a trained model
(``analysis``), the layer table (``summary``), and the docs' charts (``figures``)."""
