# SPDX-License-Identifier: GPL-3.0-or-later
"""The Kubernetes API subset the API server on :16443 serves (see ../apiserver.py)."""
