# SPDX-License-Identifier: GPL-3.0-or-later
import sys

from onprem_device.cli import main

sys.exit(main())
