"""The hardcore dialect's IRDL definition, shipped with the package."""

from pathlib import Path

__all__ = ["IRDL_PATH"]

IRDL_PATH = Path(__file__).with_name("hardcore.irdl.mlir")
