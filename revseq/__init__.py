"""revseq: the framework-free core (data, vocabulary, batching, checkpoints, metrics, report)."""
