# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the lab's own package (tests/lab/labkit) and lab.py importable from its unit tests."""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
