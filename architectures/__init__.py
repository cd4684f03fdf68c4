"""minicnn.architectures: the model zoo, one module per family, built only from minicnn's public API."""
