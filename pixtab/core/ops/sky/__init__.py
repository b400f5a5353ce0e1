"""Sky operations: sky spectrum, slice maps, per-bin statistics, sky masks of columns."""
