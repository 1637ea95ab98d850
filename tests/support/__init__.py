"""Helpers the tests share: crafted catalogs, facts about the real catalog, Airflow connections."""
