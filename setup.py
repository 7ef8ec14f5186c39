# cffi's build hook cannot be named from pyproject.toml alone.
import sys

from setuptools import setup

# cffi builds the core for the stable ABI (_core.abi3.so; csrc/facade.c asks for that of
# Python 3.10), except on a debug interpreter: the wheel's tag says which one it holds
STABLE_ABI = {"bdist_wheel": {"py_limited_api": "cp310"}}

setup(cffi_modules=["build.py:ffibuilder"],
      options={} if hasattr(sys, "gettotalrefcount") else STABLE_ABI)
