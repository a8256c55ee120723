"""The toy arm: the Dyck-3 task, the transformer, its training, evaluation and extraction."""
