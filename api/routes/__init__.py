"""Route handlers by concern; `api.app.create_app` lists them."""
