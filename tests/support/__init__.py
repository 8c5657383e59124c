"""Test tooling: a private Docker engine and offline-built JupyterLab images."""
