"""Views of the JSON results: the terminal table, the JSON file itself, Markdown."""
