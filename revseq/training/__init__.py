"""A training run: the recipe, its folder and checkpoints, resume, the run record, the
processes, and the backends it can train with."""
