"""Human reports: the run's report.xlsx / report.html (``deal``), the study's study.xlsx / study.html (``study``)
and the frontier's frontier.html (``frontier``), built from shared pieces: ``columns`` (a column's bilingual
header and kind; the labels are :mod:`pooling.vocab`'s), ``page`` (jinja2 templates in ``templates/``, figures,
tables, cards) and ``workbook`` (Excel sheets and number formats)."""
