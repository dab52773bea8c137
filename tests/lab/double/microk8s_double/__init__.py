# SPDX-License-Identifier: GPL-3.0-or-later
"""A test double of the MicroK8s snap: its CLI, local state and (see DESIGN.md) its cluster daemons."""
