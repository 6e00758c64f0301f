"""What trains and tests the networks, and nothing else: MNIST files and splits (``data``), augmentation,
the networks (``models``), the recipes, the training step (``step``, ``graphs``), the loop
(``training``), run folders and checkpoints (``runs``), the CPU speed-ups, devices, errors, atomic
files and progress bars. It imports nothing from the rest of mnistlib."""
