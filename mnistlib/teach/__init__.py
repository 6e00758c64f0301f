"""What the notebooks use: a notebook's session (``notebook``), its charts (``plots``), numbers about a
trained model (``analysis``), the layer table (``summary``), and the docs' charts (``figures``)."""
