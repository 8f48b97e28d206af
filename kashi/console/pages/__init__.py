"""One module per console page, each exposing ``router`` (listed in ``kashi.console.nav``)."""
