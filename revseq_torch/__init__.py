"""revseq_torch: the numerical reference. nn.Modules whose state_dict keys are the notebook's."""
