"""Cross-cutting pieces every area uses: money, errors, time."""
