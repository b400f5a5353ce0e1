"""Measuring operations: images, spectra, PSF fits, peaks (and the canvases they fill)."""
