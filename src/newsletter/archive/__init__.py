"""The static web archive: web versions, PDFs, an index and an Atom feed of every issue."""
