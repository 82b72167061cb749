"""Output tag names shared by the stages."""

ARTICLES = "articles"
ROWS = "rows"
REJECTS = "rejects"
DUPLICATES = "duplicates"
REPORTS = "reports"
VALID = "valid"
QUARANTINED = "quarantined"
