"""The Asterisk configuration Switchboard expects, rendered per environment.

Templates live in ``dialplan/templates``; placeholders are written ``%%{name}`` so that they
never clash with Asterisk's own ``${VARIABLE}`` syntax.
"""

from dialplan.render import STOCK_FILES, AsteriskParams, copy_stock, render_all, template_names

__all__ = ["STOCK_FILES", "AsteriskParams", "copy_stock", "render_all", "template_names"]
