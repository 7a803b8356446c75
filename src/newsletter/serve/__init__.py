"""`newsletter serve`: the small web service readers and providers talk to.

app.py is a plain WSGI application (one route table, small handlers) that any WSGI
server can run; `newsletter serve` runs it on waitress. Its pages are rendered from
templates/serve/, beside the email templates, in the series' brand.
"""
