"""The dashboard: Jinja2 pages over the data the REST API serves, plain ES modules that talk
only to /api/v1, HTML error pages in the site's style. `app.main.include_pages` calls
`install(app)`; `router` holds the page routes alone."""

from app.web.pages import router
from app.web.setup import install

__all__ = ["install", "router"]
