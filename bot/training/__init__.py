"""Training the learned parts from the evaluation data (`recochat train`): the ReDial reader (`redial.py`), the
ranking metrics (`metrics.py`), the learned ranker's cross-validated fit (`ranker.py`) and the polarity reader's
(`polarity.py`). The benchmarks import these to report on the same protocol; nothing here imports a benchmark."""
