# SPDX-License-Identifier: GPL-3.0-or-later
"""The LXD lab of onprem.microk8s: host setup, node image, containers, inventory."""
