"""gpt-oss's `browser` tool: search, open and find over a page stack with cursors, and citations.

page.py (pages and their line-numbered views), html.py (HTML -> text with numbered links),
state.py (the page stack), tool.py (the three functions), citations.py (`【3†L4-L9】` ->
url_citation annotations), backends: local.py (an offline SQLite FTS5 index), exa.py, youcom.py;
fetch.py fetches what the model opens, refusing private addresses.
"""
