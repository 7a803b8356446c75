"""Render an issue: email HTML, plain text, MIME message, print HTML and PDF."""
