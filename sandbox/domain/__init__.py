"""The in-memory domain model of the Task API; imports nothing from Flask or Connexion."""
