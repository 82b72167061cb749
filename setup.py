"""Shim: the metadata is in pyproject.toml. Kept because the required layout names setup.py, and
Beam's --setup_file falls back to `python setup.py sdist` where the `build` module is not installed."""

from setuptools import setup

setup()
