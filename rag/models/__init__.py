"""Model files: what the product knows how to install offline from PyPI, and where they live."""
