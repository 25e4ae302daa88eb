"""neacovid: design-based analysis of NEA COVID-19 working-conditions survey microdata.

Layers (lower ones never import higher ones):

- ``neacovid.survey``: design-based statistics on data frames (R survey's role);
- ``neacovid.data``: reading, harmonising and deriving the survey data;
- ``neacovid.publish``: tables under disclosure rules, figures, report, notebooks;
- ``neacovid.workflow``: one function per Snakemake rule; ``cli``/``run``: the command line.
"""

from neacovid import _moved

__version__ = "0.2.0"

_moved.install()
