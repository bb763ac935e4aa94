"""Development helpers: throwaway PostgreSQL clusters and the demo runner."""
