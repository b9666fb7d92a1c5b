"""The task: config and presets, the generated sentences, the vocabulary, batching, the
conventions both backends share, and the one initialiser."""
