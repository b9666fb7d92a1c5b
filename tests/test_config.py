"""Config's defaults: Config() is the default preset, and a record written before a setting
existed reads as the notebook's value of it (what such a run did)."""

from __future__ import annotations

import dataclasses

from revseq.task.config import NOTEBOOK, Config, ModelConfig, preset


def test_config_is_the_default_preset():
    assert Config() == preset("default")
    assert Config(model=ModelConfig()) == preset("default")


def test_a_record_missing_settings_reads_them_as_the_notebook_ran():
    d = preset("default").to_dict()
    for key in ("lr_schedule", "length_buckets", "chunk"):
        del d["train"][key]
    old = Config.from_dict(d)
    assert old.model == preset("default").model
    t = old.train
    assert (t.lr_schedule, t.length_buckets, t.chunk) == ("constant", 2, 1)
    now = dataclasses.replace(t, lr_schedule="cosine", length_buckets=1, chunk=25)
    assert now == Config().train
    assert NOTEBOOK.train.chunk == 1 and NOTEBOOK.model.hidden_dim == 256
