"""Data: synthetic tasks, templates, SentencePiece tokenizer, pretraining corpus, pipelines."""
