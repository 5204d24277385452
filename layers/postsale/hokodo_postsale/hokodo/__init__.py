"""Hokodo's API: the client (`client`: retries, deadlines, error classes), the API key (`credentials`), and the
answers as the bundle reads them (`models`)."""
