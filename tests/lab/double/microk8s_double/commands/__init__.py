# SPDX-License-Identifier: GPL-3.0-or-later
"""One module per `microk8s` subcommand group; each exposes run(ctx, command, args) -> exit code."""
