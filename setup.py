# cffi's build hook cannot be named from pyproject.toml alone.
from setuptools import setup

setup(cffi_modules=["build.py:ffibuilder"])
