"""The companies contacts API (seed 004): contacts grouped by company, Bearer tokens per account.

Each token belongs to one account, which owns a set of companies; listing a
company's contacts needs its owner's token and pages with ``skip``/``limit``.
Only the bundled sandbox exists so far (``sync.apis.companies.sandbox``).
"""
