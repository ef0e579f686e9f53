"""One module per framework: save, log and load its models, natively and as pyfunc.

Each module imports its framework on first use, so ``import runlab.sklearn`` works without
scikit-learn installed and fails only when a model is saved or loaded, with an install hint.
"""
