"""neacovid: design-based analysis of NEA COVID-19 working-conditions survey microdata."""

__version__ = "0.1.0"
