"""The pixtab core: reading, selecting, decoding and writing pixel tables.

Only numpy and astropy live here. Nothing in this package imports click or
rich, or prints; errors are :class:`pixtab.core.errors.PixtabError` subclasses
and progress is reported through optional callbacks.
"""
