"""DCRF's suite on rxcdc.api: observers fed by rxcdc's test worker (``rxcdc.api.testing``)."""

pytest_plugins = ["rxcdc.api.testing.plugin"]
