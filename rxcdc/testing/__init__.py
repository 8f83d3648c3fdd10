"""Test support: throwaway local services and a pytest plugin (``-p rxcdc.testing.plugin``)."""
