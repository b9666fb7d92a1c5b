"""revseq_jax: the product. Params are nested dicts named like the notebook's state_dict."""
