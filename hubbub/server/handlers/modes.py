"""MODE for users and channels (placeholder until the full mode handler lands)."""

from __future__ import annotations
