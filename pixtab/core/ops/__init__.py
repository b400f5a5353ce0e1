"""Operations on pixel tables (the top layer).

The row-moving operations (extract, sources, export, convert, decode, rebuild,
flatfield, index, describe, explain) are modules here; the others are grouped by
what changes together: :mod:`.measure` (images, spectra, PSF fits, peaks),
:mod:`.pictures`, :mod:`.sky`, :mod:`.simulate` and :mod:`.reconstruct`.
"""
