# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline container images for the lab's demo (built from the node image's rootfs, no registry)."""
