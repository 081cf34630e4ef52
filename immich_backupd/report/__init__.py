"""Telling the user: progress as data, log lines, sd_notify and notifications."""

from .progress import Progress, Reporter, Upload

__all__ = ["Progress", "Reporter", "Upload"]
