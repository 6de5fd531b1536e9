"""The pages a browser sees: a landing page at /, the dashboard at /_sandbox/, Swagger UI's index with a session of its own."""
