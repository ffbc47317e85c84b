"""The train tests need Fashion-MNIST: without it the whole folder skips."""

import pytest

from tests.helpers import HAS_FASHION

if not HAS_FASHION:
    pytest.skip("Fashion-MNIST not installed", allow_module_level=True)
