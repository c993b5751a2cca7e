"""A run in words and pictures: summary, the HTML report, SVG charts, gallery, share links."""
