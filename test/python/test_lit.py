"""Runs the lit suite (test/**/*.mlir) so that one pytest run covers everything."""

import subprocess
import sys
from pathlib import Path

TEST_ROOT = Path(__file__).resolve().parents[1]


def test_lit_suite():
    result = subprocess.run([sys.executable, "-c", "import sys; from lit.main import main; sys.exit(main())",
                             "-sv", str(TEST_ROOT)], capture_output=True, text=True)
    print(result.stdout[-20000:])
    print(result.stderr[-5000:])
    assert result.returncode == 0, "lit tests failed (see captured output)"
    assert "Passed" in result.stdout
