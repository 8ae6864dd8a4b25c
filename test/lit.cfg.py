"""lit configuration for hardcore's IR tests (run by `pytest test`, or `lit test`)."""

import os
import sys

import lit.formats

config.name = "hardcore"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
# lit.cfg.py itself and the pytest suite are not lit tests.
config.excludes = ["lit.cfg.py", "python", "Inputs", "__pycache__"]

# hardcore-opt, torch-mlir-opt and filecheck live beside the running Python.
tool_dir = os.path.dirname(sys.executable)
config.environment["PATH"] = os.pathsep.join([tool_dir, os.environ.get("PATH", "")])
root = os.path.dirname(config.test_source_root)
config.substitutions.append(("%hardcore_root", root))
config.substitutions.append(("%irdl", os.path.join(root, "dialects", "hardcore.irdl.mlir")))
