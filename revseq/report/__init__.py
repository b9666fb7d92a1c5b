"""What a model does on held-out sentences: decoding for evaluation, metrics, probes, the
attention ablation, the Part 4 analysis, the figures and report.md."""
