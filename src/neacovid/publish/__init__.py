"""What leaves the secure environment: tables under the disclosure rules, key
figures, figures, notebooks, the report and its provenance. The words for
readers are in ``workflow/templates/*.yaml``."""
