"""The report in words: the headline, the document's sentences and tables, summary.json's lists,
and their rendering to Markdown and HTML. Numbers come from `report.statistics`."""
