"""Training, quantization-aware fine-tuning, post-training quantization and evaluation of the
learned predictors. Nothing on the coding path imports this package (tests/test_models.py checks)."""
