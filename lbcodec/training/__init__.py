"""Training of lbcodec's networks with the real codec in the loop (`lbcodec train CONFIG`).

- :mod:`.config`: one JSON file per shipped model (``configs/``), loaded into a dataclass.
- :mod:`.data`: training/validation split, degradation through the real pipeline, patch cache.
- :mod:`.trainer`: seeded, resumable training loop; publishing into the weights registry.
"""
