"""The pixtab core: reading, selecting, decoding and writing pixel tables.

Layers (a module imports only its own layer and those below; tests/core/test_layering.py)::

    errors, progress   PixtabError and subclasses (with the request field concerned);
                       the progress protocol (phases)
    fits/              structure (HDU offsets), dtypes (BITPIX/TFORM), hdu (HDUFile, the
                       one HDU writer), atomic (atomic output, output checks)
    format/            keywords, limits, origin (codec, DetectorDecoder), exposures
                       (ExposureMap), columns (output columns, ASCII narrowing), sky, slicer
    io/                table (PixTable, behind pixtab.open), layouts (image, BINTABLE, ASCII TABLE:
                       typed and raw reads), rowsource, selection (Criteria, Selector),
                       writer (PixtableWriter, placements, RowBatcher)
    ops/               extract, convert, decode, reconstruct/, simulate, describe

Only numpy and astropy live here. Nothing in this package imports click or
rich, or prints; messages speak the domain, never command-line options.
"""
