"""Operations on pixel tables, one module or package each (the top layer).

The measuring operations (image, peaks, spectrum, fit, skyplot, pictures) meet
the lower layers through :mod:`.rows` only.
"""
