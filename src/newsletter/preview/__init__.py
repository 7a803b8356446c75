"""The live preview: render an issue on every save and show it in the browser.

parts.py renders what the page shows (through the real renderers), session.py keeps
the last good render and tells subscribers, watch.py notices saves, server.py serves
the page, the rendered parts and workspace images over HTTP with server-sent events.
"""
