"""Design-based statistics on data frames (the role of R's survey package).

A `design.Design` names the weight, strata, PSU, fpc and calibration columns
and is bound to a frame once; the estimators (`estimate`, `compare`,
`models`, `panel`) are pure functions of (data, design) that return tidy
frames. This layer imports nothing from ``data`` or ``publish``.
"""
