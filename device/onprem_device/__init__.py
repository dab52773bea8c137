# SPDX-License-Identifier: GPL-3.0-or-later
"""The device side of the AI offload system: a small on-device model with calibrated confidence that answers what
it is sure of and offloads the rest to the cluster's inference service over the Open Inference Protocol (v2).

Runs on a Raspberry Pi with the Python standard library and numpy only (`model`, `calibration`, `client`,
`cascade`, `spool`, `cli`). `train` and `simulate` run on the controller and need scikit-learn."""

__version__ = "0.1.0"
