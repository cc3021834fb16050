"""webbcal-niriss: the NIRISS instrument plugin for webbcal (SOSS time series)."""
