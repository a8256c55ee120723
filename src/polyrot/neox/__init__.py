"""The GPT-NeoX arm (docs/methods.md §5): model sources, the analysis corpus, extraction, and the
offline family that stands in for the Pythia seeds where the hub cannot be reached.

- ``source``: load a GPT-NeoX causal LM and its tokenizer from the hub or a local directory.
- ``corpus``: documents (Python's own documentation, the Pile, a local file), the BPE
  tokenizer of the offline family, and the analysis sequences.
- ``extract``: residual activations at named sites, the body only, into activation caches.
- ``family``: train the offline family and save its checkpoints as revisions.

``transformers`` is imported inside these modules only, so the rest of the package stays
light.
"""
