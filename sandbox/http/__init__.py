"""The request path around Connexion: the edge, the request context, validation, the envelope and the server."""
