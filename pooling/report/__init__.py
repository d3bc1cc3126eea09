"""Human reports: the run's report.xlsx / report.html (``deal``) and the study's study.xlsx / study.html
(``study``)."""
