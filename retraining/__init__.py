"""The learning loop: training pairs, fine-tuning, evaluation gate, experiments, scheduling."""
